from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field
from dateutil.parser import isoparse

from ..types import UNSET, Unset

T = TypeVar("T", bound="DepletionView")


@_attrs_define
class DepletionView:
    """When the money runs out at each rate.

    Attributes:
        current (datetime.datetime | None | Unset):
        maximum (datetime.datetime | None | Unset):
        minimum (datetime.datetime | None | Unset):
    """

    current: datetime.datetime | None | Unset = UNSET
    maximum: datetime.datetime | None | Unset = UNSET
    minimum: datetime.datetime | None | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        current: None | str | Unset
        if isinstance(self.current, Unset):
            current = UNSET
        elif isinstance(self.current, datetime.datetime):
            current = self.current.isoformat()
        else:
            current = self.current

        maximum: None | str | Unset
        if isinstance(self.maximum, Unset):
            maximum = UNSET
        elif isinstance(self.maximum, datetime.datetime):
            maximum = self.maximum.isoformat()
        else:
            maximum = self.maximum

        minimum: None | str | Unset
        if isinstance(self.minimum, Unset):
            minimum = UNSET
        elif isinstance(self.minimum, datetime.datetime):
            minimum = self.minimum.isoformat()
        else:
            minimum = self.minimum

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({})
        if current is not UNSET:
            field_dict["current"] = current
        if maximum is not UNSET:
            field_dict["maximum"] = maximum
        if minimum is not UNSET:
            field_dict["minimum"] = minimum

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)

        def _parse_current(data: object) -> datetime.datetime | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                current_type_0 = isoparse(data)

                return current_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None | Unset, data)

        current = _parse_current(d.pop("current", UNSET))

        def _parse_maximum(data: object) -> datetime.datetime | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                maximum_type_0 = isoparse(data)

                return maximum_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None | Unset, data)

        maximum = _parse_maximum(d.pop("maximum", UNSET))

        def _parse_minimum(data: object) -> datetime.datetime | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                minimum_type_0 = isoparse(data)

                return minimum_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None | Unset, data)

        minimum = _parse_minimum(d.pop("minimum", UNSET))

        depletion_view = cls(
            current=current,
            maximum=maximum,
            minimum=minimum,
        )

        depletion_view.additional_properties = d
        return depletion_view

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
