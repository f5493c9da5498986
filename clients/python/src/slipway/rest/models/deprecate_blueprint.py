from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define

T = TypeVar("T", bound="DeprecateBlueprint")


@_attrs_define
class DeprecateBlueprint:
    """`POST /v1/blueprints/{name}/versions/{version}/deprecate`

    Attributes:
        reason (str): Why, for whoever meets it.
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

        deprecate_blueprint = cls(
            reason=reason,
        )

        return deprecate_blueprint
