from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field
from dateutil.parser import isoparse

from ..models.event_level import EventLevel
from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.event_data_type_0 import EventDataType0


T = TypeVar("T", bound="Event")


@_attrs_define
class Event:
    """An event of an operation's log, numbered from 1 in the order appended.

    Attributes:
        at (datetime.datetime):
        kind (str):
        level (EventLevel): How much an event matters.
        message (str):
        seq (int):
        data (EventDataType0 | None | Unset): The event's structured details, or null for a plain line of output.
    """

    at: datetime.datetime
    kind: str
    level: EventLevel
    message: str
    seq: int
    data: EventDataType0 | None | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        from ..models.event_data_type_0 import EventDataType0

        at = self.at.isoformat()

        kind = self.kind

        level = self.level.value

        message = self.message

        seq = self.seq

        data: dict[str, Any] | None | Unset
        if isinstance(self.data, Unset):
            data = UNSET
        elif isinstance(self.data, EventDataType0):
            data = self.data.to_dict()
        else:
            data = self.data

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "at": at,
                "kind": kind,
                "level": level,
                "message": message,
                "seq": seq,
            }
        )
        if data is not UNSET:
            field_dict["data"] = data

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.event_data_type_0 import EventDataType0

        d = dict(src_dict)
        at = isoparse(d.pop("at"))

        kind = d.pop("kind")

        level = EventLevel(d.pop("level"))

        message = d.pop("message")

        seq = d.pop("seq")

        def _parse_data(data: object) -> EventDataType0 | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                data_type_0 = EventDataType0.from_dict(data)

                return data_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(EventDataType0 | None | Unset, data)

        data = _parse_data(d.pop("data", UNSET))

        event = cls(
            at=at,
            kind=kind,
            level=level,
            message=message,
            seq=seq,
            data=data,
        )

        event.additional_properties = d
        return event

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
