from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define

T = TypeVar("T", bound="ClusterProtection")


@_attrs_define
class ClusterProtection:
    """`PUT /v1/clusters/{name}/protection`

    Attributes:
        protected (bool): Protected: kept, never destroyed nor scheduled for destroy unless
            an administrator forces it.
    """

    protected: bool

    def to_dict(self) -> dict[str, Any]:
        protected = self.protected

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "protected": protected,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        protected = d.pop("protected")

        cluster_protection = cls(
            protected=protected,
        )

        return cluster_protection
