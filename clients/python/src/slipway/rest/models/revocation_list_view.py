from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

T = TypeVar("T", bound="RevocationListView")


@_attrs_define
class RevocationListView:
    """`GET /.well-known/revocations`: what cluster gateways refuse, not yet
    expired, as a JWT signed like Slipway's tokens (audience
    `slipway:revocations`; claims `revoked`: `[{"jti", "exp"}]`, and
    `subjects`: `[{"sub", "aud", "issued_before", "exp"}]` — a person's
    tokens for cluster `aud` issued before `issued_before`, absent when
    empty).

        Attributes:
            token (str):
    """

    token: str
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        token = self.token

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "token": token,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        token = d.pop("token")

        revocation_list_view = cls(
            token=token,
        )

        revocation_list_view.additional_properties = d
        return revocation_list_view

    @property
    def additional_keys(self) -> list[str]:
        return list(self.additional_properties.keys())

    def __getitem__(self, key: str) -> Any:
        return self.additional_properties[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.additional_properties[key] = value

    def __delitem__(self, key: str) -> None:
        del self.additional_properties[key]

    def __contains__(self, key: str) -> bool:
        return key in self.additional_properties
