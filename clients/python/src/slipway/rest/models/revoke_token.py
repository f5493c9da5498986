from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define

T = TypeVar("T", bound="RevokeToken")


@_attrs_define
class RevokeToken:
    """`POST /v1/admin/revoke`: deny a token's `jti` until it expires.

    Attributes:
        jti (str):
    """

    jti: str

    def to_dict(self) -> dict[str, Any]:
        jti = self.jti

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "jti": jti,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        jti = d.pop("jti")

        revoke_token = cls(
            jti=jti,
        )

        return revoke_token
