from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field
from dateutil.parser import isoparse

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.limits import Limits


T = TypeVar("T", bound="OrganizationView")


@_attrs_define
class OrganizationView:
    """An organization.

    Attributes:
        created_at (datetime.datetime):
        destroy_when_idle (bool): Clusters are destroyed when their last capacity request expires.
        limits (Limits): An organization's limits on what its members deploy (administrators have
            none but the absolute ceiling on nodes) — and, for everyone, on how many
            of its clusters' operations run at once.
        name (str):
        github_org (None | str | Unset):
        github_team (None | str | Unset):
    """

    created_at: datetime.datetime
    destroy_when_idle: bool
    limits: Limits
    name: str
    github_org: None | str | Unset = UNSET
    github_team: None | str | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        created_at = self.created_at.isoformat()

        destroy_when_idle = self.destroy_when_idle

        limits = self.limits.to_dict()

        name = self.name

        github_org: None | str | Unset
        if isinstance(self.github_org, Unset):
            github_org = UNSET
        else:
            github_org = self.github_org

        github_team: None | str | Unset
        if isinstance(self.github_team, Unset):
            github_team = UNSET
        else:
            github_team = self.github_team

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "created_at": created_at,
                "destroy_when_idle": destroy_when_idle,
                "limits": limits,
                "name": name,
            }
        )
        if github_org is not UNSET:
            field_dict["github_org"] = github_org
        if github_team is not UNSET:
            field_dict["github_team"] = github_team

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.limits import Limits

        d = dict(src_dict)
        created_at = isoparse(d.pop("created_at"))

        destroy_when_idle = d.pop("destroy_when_idle")

        limits = Limits.from_dict(d.pop("limits"))

        name = d.pop("name")

        def _parse_github_org(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        github_org = _parse_github_org(d.pop("github_org", UNSET))

        def _parse_github_team(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        github_team = _parse_github_team(d.pop("github_team", UNSET))

        organization_view = cls(
            created_at=created_at,
            destroy_when_idle=destroy_when_idle,
            limits=limits,
            name=name,
            github_org=github_org,
            github_team=github_team,
        )

        organization_view.additional_properties = d
        return organization_view

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
