from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define

T = TypeVar("T", bound="PauseProvisioning")


@_attrs_define
class PauseProvisioning:
    """`POST /v1/admin/provisioning/pause`

    Attributes:
        reason (str): Why, for everyone who sees the pause (1 to 500 characters).
    """

    reason: str

    def to_dict(self) -> dict[str, Any]:
        reason = self.reason

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "reason": reason,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        reason = d.pop("reason")

        pause_provisioning = cls(
            reason=reason,
        )

        return pause_provisioning
