from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define

T = TypeVar("T", bound="ClusterVisibility")


@_attrs_define
class ClusterVisibility:
    """`PUT /v1/clusters/{name}/visibility`

    Attributes:
        public (bool): Public: anyone signed in may use the cluster; private: its
            organization's members only.
    """

    public: bool

    def to_dict(self) -> dict[str, Any]:
        public = self.public

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "public": public,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        public = d.pop("public")

        cluster_visibility = cls(
            public=public,
        )

        return cluster_visibility
