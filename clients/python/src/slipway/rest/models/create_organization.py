from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.update_limits import UpdateLimits


T = TypeVar("T", bound="CreateOrganization")


@_attrs_define
class CreateOrganization:
    """`POST /v1/orgs`

    Attributes:
        name (str): `[a-z0-9][a-z0-9-]{0,39}`, unique site-wide.
        destroy_when_idle (bool | Unset): Destroy a cluster when its last capacity request expires (default:
            scale it to its minimum).
        github_org (None | str | Unset):
        github_team (None | str | Unset):
        limits (None | Unset | UpdateLimits):
    """

    name: str
    destroy_when_idle: bool | Unset = UNSET
    github_org: None | str | Unset = UNSET
    github_team: None | str | Unset = UNSET
    limits: None | Unset | UpdateLimits = UNSET

    def to_dict(self) -> dict[str, Any]:
        from ..models.update_limits import UpdateLimits

        name = self.name

        destroy_when_idle = self.destroy_when_idle

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

        limits: dict[str, Any] | None | Unset
        if isinstance(self.limits, Unset):
            limits = UNSET
        elif isinstance(self.limits, UpdateLimits):
            limits = self.limits.to_dict()
        else:
            limits = self.limits

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "name": name,
            }
        )
        if destroy_when_idle is not UNSET:
            field_dict["destroy_when_idle"] = destroy_when_idle
        if github_org is not UNSET:
            field_dict["github_org"] = github_org
        if github_team is not UNSET:
            field_dict["github_team"] = github_team
        if limits is not UNSET:
            field_dict["limits"] = limits

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.update_limits import UpdateLimits

        d = dict(src_dict)
        name = d.pop("name")

        destroy_when_idle = d.pop("destroy_when_idle", UNSET)

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

        def _parse_limits(data: object) -> None | Unset | UpdateLimits:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                limits_type_1 = UpdateLimits.from_dict(data)

                return limits_type_1
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | Unset | UpdateLimits, data)

        limits = _parse_limits(d.pop("limits", UNSET))

        create_organization = cls(
            name=name,
            destroy_when_idle=destroy_when_idle,
            github_org=github_org,
            github_team=github_team,
            limits=limits,
        )

        return create_organization
