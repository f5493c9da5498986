from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

T = TypeVar("T", bound="RotatedKeys")


@_attrs_define
class RotatedKeys:
    """`POST /v1/admin/rotate-keys`

    Attributes:
        published (list[str]): Every key still published in the JWKS.
        signing_kid (str): The key that signs from now on.
    """

    published: list[str]
    signing_kid: str
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        published = self.published

        signing_kid = self.signing_kid

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "published": published,
                "signing_kid": signing_kid,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        published = cast(list[str], d.pop("published"))

        signing_kid = d.pop("signing_kid")

        rotated_keys = cls(
            published=published,
            signing_kid=signing_kid,
        )

        rotated_keys.additional_properties = d
        return rotated_keys

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
