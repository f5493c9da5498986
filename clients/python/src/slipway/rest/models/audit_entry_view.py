from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field
from dateutil.parser import isoparse

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.audit_entry_view_detail import AuditEntryViewDetail


T = TypeVar("T", bound="AuditEntryView")


@_attrs_define
class AuditEntryView:
    """An entry of the audit log.

    Attributes:
        action (str):
        actor (str): Who acted: a subject (`github:<id>`, `slipway:<name>`).
        at (datetime.datetime):
        detail (AuditEntryViewDetail):
        id (int):
        level (str):
        result (str):
        target (str):
        actor_name (None | str | Unset): What they were called then (a login).
    """

    action: str
    actor: str
    at: datetime.datetime
    detail: AuditEntryViewDetail
    id: int
    level: str
    result: str
    target: str
    actor_name: None | str | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        action = self.action

        actor = self.actor

        at = self.at.isoformat()

        detail = self.detail.to_dict()

        id = self.id

        level = self.level

        result = self.result

        target = self.target

        actor_name: None | str | Unset
        if isinstance(self.actor_name, Unset):
            actor_name = UNSET
        else:
            actor_name = self.actor_name

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "action": action,
                "actor": actor,
                "at": at,
                "detail": detail,
                "id": id,
                "level": level,
                "result": result,
                "target": target,
            }
        )
        if actor_name is not UNSET:
            field_dict["actor_name"] = actor_name

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.audit_entry_view_detail import AuditEntryViewDetail

        d = dict(src_dict)
        action = d.pop("action")

        actor = d.pop("actor")

        at = isoparse(d.pop("at"))

        detail = AuditEntryViewDetail.from_dict(d.pop("detail"))

        id = d.pop("id")

        level = d.pop("level")

        result = d.pop("result")

        target = d.pop("target")

        def _parse_actor_name(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        actor_name = _parse_actor_name(d.pop("actor_name", UNSET))

        audit_entry_view = cls(
            action=action,
            actor=actor,
            at=at,
            detail=detail,
            id=id,
            level=level,
            result=result,
            target=target,
            actor_name=actor_name,
        )

        audit_entry_view.additional_properties = d
        return audit_entry_view

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
