from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define

from ..types import UNSET, Unset

T = TypeVar("T", bound="ApproveMembership")


@_attrs_define
class ApproveMembership:
    """`POST /v1/orgs/{name}/members/{login}/approve`

    Attributes:
        owner (bool | Unset): Make the member an owner (who may approve others).
    """

    owner: bool | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        owner = self.owner

        field_dict: dict[str, Any] = {}

        field_dict.update({})
        if owner is not UNSET:
            field_dict["owner"] = owner

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        owner = d.pop("owner", UNSET)

        approve_membership = cls(
            owner=owner,
        )

        return approve_membership
