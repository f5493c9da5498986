from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field
from dateutil.parser import isoparse

from ..types import UNSET, Unset

T = TypeVar("T", bound="BlueprintView")


@_attrs_define
class BlueprintView:
    """A blueprint version.

    Attributes:
        created_at (datetime.datetime):
        description (str):
        digest (str):
        latest (bool): What `latest` names.
        name (str):
        version (str):
        deprecated (None | str | Unset): Deprecated, and why: no new cluster runs it.
        organizations (list[str] | None | Unset): Only these organizations' clusters may use it (null: every one's).
    """

    created_at: datetime.datetime
    description: str
    digest: str
    latest: bool
    name: str
    version: str
    deprecated: None | str | Unset = UNSET
    organizations: list[str] | None | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        created_at = self.created_at.isoformat()

        description = self.description

        digest = self.digest

        latest = self.latest

        name = self.name

        version = self.version

        deprecated: None | str | Unset
        if isinstance(self.deprecated, Unset):
            deprecated = UNSET
        else:
            deprecated = self.deprecated

        organizations: list[str] | None | Unset
        if isinstance(self.organizations, Unset):
            organizations = UNSET
        elif isinstance(self.organizations, list):
            organizations = self.organizations

        else:
            organizations = self.organizations

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "created_at": created_at,
                "description": description,
                "digest": digest,
                "latest": latest,
                "name": name,
                "version": version,
            }
        )
        if deprecated is not UNSET:
            field_dict["deprecated"] = deprecated
        if organizations is not UNSET:
            field_dict["organizations"] = organizations

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        created_at = isoparse(d.pop("created_at"))

        description = d.pop("description")

        digest = d.pop("digest")

        latest = d.pop("latest")

        name = d.pop("name")

        version = d.pop("version")

        def _parse_deprecated(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        deprecated = _parse_deprecated(d.pop("deprecated", UNSET))

        def _parse_organizations(data: object) -> list[str] | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, list):
                    raise TypeError()
                organizations_type_0 = cast(list[str], data)

                return organizations_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(list[str] | None | Unset, data)

        organizations = _parse_organizations(d.pop("organizations", UNSET))

        blueprint_view = cls(
            created_at=created_at,
            description=description,
            digest=digest,
            latest=latest,
            name=name,
            version=version,
            deprecated=deprecated,
            organizations=organizations,
        )

        blueprint_view.additional_properties = d
        return blueprint_view

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
