from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field
from dateutil.parser import isoparse

T = TypeVar("T", bound="StateVersionView")


@_attrs_define
class StateVersionView:
    """One version of a cluster's Terraform state. Slipway keeps every one.

    Attributes:
        operation (str): The operation whose Terraform wrote it.
        serial (int): 1, 2, 3 … in the order written.
        written_at (datetime.datetime):
    """

    operation: str
    serial: int
    written_at: datetime.datetime
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        operation = self.operation

        serial = self.serial

        written_at = self.written_at.isoformat()

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "operation": operation,
                "serial": serial,
                "written_at": written_at,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        operation = d.pop("operation")

        serial = d.pop("serial")

        written_at = isoparse(d.pop("written_at"))

        state_version_view = cls(
            operation=operation,
            serial=serial,
            written_at=written_at,
        )

        state_version_view.additional_properties = d
        return state_version_view

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
