from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field
from dateutil.parser import isoparse

T = TypeVar("T", bound="CapacityWaitView")


@_attrs_define
class CapacityWaitView:
    """Why a capacity request waits.

    Attributes:
        code (str): The refusal's code (`over_budget`, `limit_exceeded`,
            `too_late_to_reschedule`, …), `operation_in_progress`, or `pending`.
        message (str): What is in the way, for people.
        since (datetime.datetime): Since when it waits for this.
    """

    code: str
    message: str
    since: datetime.datetime
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        code = self.code

        message = self.message

        since = self.since.isoformat()

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "code": code,
                "message": message,
                "since": since,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        code = d.pop("code")

        message = d.pop("message")

        since = isoparse(d.pop("since"))

        capacity_wait_view = cls(
            code=code,
            message=message,
            since=since,
        )

        capacity_wait_view.additional_properties = d
        return capacity_wait_view

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
