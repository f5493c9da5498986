from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.level import Level

if TYPE_CHECKING:
    from ..models.credential_view import CredentialView


T = TypeVar("T", bound="WhoAmI")


@_attrs_define
class WhoAmI:
    """`GET /v1/whoami`

    Attributes:
        credential (CredentialView): The credential a request came with.
        level (Level): A caller's level for one cluster.
        login (str): What you are called (your GitHub login).
        organizations (list[str]):
        subject (str): Who you are, stably: `github:<id>`, or `slipway:<name>` for
            Slipway's own identities (the bootstrap administrator).
    """

    credential: CredentialView
    level: Level
    login: str
    organizations: list[str]
    subject: str
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        credential = self.credential.to_dict()

        level = self.level.value

        login = self.login

        organizations = self.organizations

        subject = self.subject

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "credential": credential,
                "level": level,
                "login": login,
                "organizations": organizations,
                "subject": subject,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.credential_view import CredentialView

        d = dict(src_dict)
        credential = CredentialView.from_dict(d.pop("credential"))

        level = Level(d.pop("level"))

        login = d.pop("login")

        organizations = cast(list[str], d.pop("organizations"))

        subject = d.pop("subject")

        who_am_i = cls(
            credential=credential,
            level=level,
            login=login,
            organizations=organizations,
            subject=subject,
        )

        who_am_i.additional_properties = d
        return who_am_i

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
