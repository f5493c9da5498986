from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

if TYPE_CHECKING:
    from ..models.balance_point import BalancePoint


T = TypeVar("T", bound="ForecastSeries")


@_attrs_define
class ForecastSeries:
    """The balance ahead at one rate: hourly for 14 days, daily for 91 days,
    monthly for 12 months (allowance on the 1st, never below zero).

        Attributes:
            daily (list[BalancePoint]):
            hourly (list[BalancePoint]):
            monthly (list[BalancePoint]):
            rate (str): An exact cost in US dollars per hour, as a decimal string.
    """

    daily: list[BalancePoint]
    hourly: list[BalancePoint]
    monthly: list[BalancePoint]
    rate: str
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        daily = []
        for daily_item_data in self.daily:
            daily_item = daily_item_data.to_dict()
            daily.append(daily_item)

        hourly = []
        for hourly_item_data in self.hourly:
            hourly_item = hourly_item_data.to_dict()
            hourly.append(hourly_item)

        monthly = []
        for monthly_item_data in self.monthly:
            monthly_item = monthly_item_data.to_dict()
            monthly.append(monthly_item)

        rate = self.rate

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "daily": daily,
                "hourly": hourly,
                "monthly": monthly,
                "rate": rate,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.balance_point import BalancePoint

        d = dict(src_dict)
        daily = []
        _daily = d.pop("daily")
        for daily_item_data in _daily:
            daily_item = BalancePoint.from_dict(daily_item_data)

            daily.append(daily_item)

        hourly = []
        _hourly = d.pop("hourly")
        for hourly_item_data in _hourly:
            hourly_item = BalancePoint.from_dict(hourly_item_data)

            hourly.append(hourly_item)

        monthly = []
        _monthly = d.pop("monthly")
        for monthly_item_data in _monthly:
            monthly_item = BalancePoint.from_dict(monthly_item_data)

            monthly.append(monthly_item)

        rate = d.pop("rate")

        forecast_series = cls(
            daily=daily,
            hourly=hourly,
            monthly=monthly,
            rate=rate,
        )

        forecast_series.additional_properties = d
        return forecast_series

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
