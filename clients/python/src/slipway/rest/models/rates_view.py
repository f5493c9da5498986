from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

T = TypeVar("T", bound="RatesView")


@_attrs_define
class RatesView:
    """Dollars per hour at three sizes.

    Attributes:
        current (str): An exact cost in US dollars per hour, as a decimal string.
        maximum (str): An exact cost in US dollars per hour, as a decimal string.
        minimum (str): An exact cost in US dollars per hour, as a decimal string.
    """

    current: str
    maximum: str
    minimum: str
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        current = self.current

        maximum = self.maximum

        minimum = self.minimum

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "current": current,
                "maximum": maximum,
                "minimum": minimum,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        current = d.pop("current")

        maximum = d.pop("maximum")

        minimum = d.pop("minimum")

        rates_view = cls(
            current=current,
            maximum=maximum,
            minimum=minimum,
        )

        rates_view.additional_properties = d
        return rates_view

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
