from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field
from dateutil.parser import isoparse

from ..models.level import Level
from ..types import UNSET, Unset

T = TypeVar("T", bound="Session")


@_attrs_define
class Session:
    """A signed-in session: the user token (`jwt_user`) and who it is for.

    Attributes:
        expires_at (datetime.datetime):
        level (Level): A caller's level for one cluster.
        login (str):
        organizations (list[str]):
        token (str):
        warnings (list[str] | Unset): Things worth knowing, e.g. scopes GitHub did not grant.
    """

    expires_at: datetime.datetime
    level: Level
    login: str
    organizations: list[str]
    token: str
    warnings: list[str] | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        expires_at = self.expires_at.isoformat()

        level = self.level.value

        login = self.login

        organizations = self.organizations

        token = self.token

        warnings: list[str] | Unset = UNSET
        if not isinstance(self.warnings, Unset):
            warnings = self.warnings

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "expires_at": expires_at,
                "level": level,
                "login": login,
                "organizations": organizations,
                "token": token,
            }
        )
        if warnings is not UNSET:
            field_dict["warnings"] = warnings

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        expires_at = isoparse(d.pop("expires_at"))

        level = Level(d.pop("level"))

        login = d.pop("login")

        organizations = cast(list[str], d.pop("organizations"))

        token = d.pop("token")

        warnings = cast(list[str], d.pop("warnings", UNSET))

        session = cls(
            expires_at=expires_at,
            level=level,
            login=login,
            organizations=organizations,
            token=token,
            warnings=warnings,
        )

        session.additional_properties = d
        return session

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
