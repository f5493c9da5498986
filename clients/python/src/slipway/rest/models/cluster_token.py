from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field
from dateutil.parser import isoparse

from ..models.level import Level

T = TypeVar("T", bound="ClusterToken")


@_attrs_define
class ClusterToken:
    """`POST /v1/clusters/{name}/access`: a cluster token (`jwt_cluster`).

    Attributes:
        audience (str): Exactly the cluster's name.
        expires_at (datetime.datetime):
        level (Level): A caller's level for one cluster.
        token (str):
    """

    audience: str
    expires_at: datetime.datetime
    level: Level
    token: str
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        audience = self.audience

        expires_at = self.expires_at.isoformat()

        level = self.level.value

        token = self.token

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "audience": audience,
                "expires_at": expires_at,
                "level": level,
                "token": token,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        audience = d.pop("audience")

        expires_at = isoparse(d.pop("expires_at"))

        level = Level(d.pop("level"))

        token = d.pop("token")

        cluster_token = cls(
            audience=audience,
            expires_at=expires_at,
            level=level,
            token=token,
        )

        cluster_token.additional_properties = d
        return cluster_token

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
