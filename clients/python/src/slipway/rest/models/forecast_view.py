from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

if TYPE_CHECKING:
    from ..models.depletion_view import DepletionView
    from ..models.forecast_series import ForecastSeries
    from ..models.rates_view import RatesView


T = TypeVar("T", bound="ForecastView")


@_attrs_define
class ForecastView:
    """`GET /v1/orgs/{name}/forecast`: the balance ahead at each rate.

    Attributes:
        balance (str): An exact amount of US dollars, as a decimal string.
        burn_rates (RatesView): Dollars per hour at three sizes.
        currency (str):
        current (ForecastSeries): The balance ahead at one rate: hourly for 14 days, daily for 91 days,
            monthly for 12 months (allowance on the 1st, never below zero).
        depletes_at (DepletionView): When the money runs out at each rate.
        maximum (ForecastSeries): The balance ahead at one rate: hourly for 14 days, daily for 91 days,
            monthly for 12 months (allowance on the 1st, never below zero).
        minimum (ForecastSeries): The balance ahead at one rate: hourly for 14 days, daily for 91 days,
            monthly for 12 months (allowance on the 1st, never below zero).
        organization (str):
    """

    balance: str
    burn_rates: RatesView
    currency: str
    current: ForecastSeries
    depletes_at: DepletionView
    maximum: ForecastSeries
    minimum: ForecastSeries
    organization: str
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        balance = self.balance

        burn_rates = self.burn_rates.to_dict()

        currency = self.currency

        current = self.current.to_dict()

        depletes_at = self.depletes_at.to_dict()

        maximum = self.maximum.to_dict()

        minimum = self.minimum.to_dict()

        organization = self.organization

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "balance": balance,
                "burn_rates": burn_rates,
                "currency": currency,
                "current": current,
                "depletes_at": depletes_at,
                "maximum": maximum,
                "minimum": minimum,
                "organization": organization,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.depletion_view import DepletionView
        from ..models.forecast_series import ForecastSeries
        from ..models.rates_view import RatesView

        d = dict(src_dict)
        balance = d.pop("balance")

        burn_rates = RatesView.from_dict(d.pop("burn_rates"))

        currency = d.pop("currency")

        current = ForecastSeries.from_dict(d.pop("current"))

        depletes_at = DepletionView.from_dict(d.pop("depletes_at"))

        maximum = ForecastSeries.from_dict(d.pop("maximum"))

        minimum = ForecastSeries.from_dict(d.pop("minimum"))

        organization = d.pop("organization")

        forecast_view = cls(
            balance=balance,
            burn_rates=burn_rates,
            currency=currency,
            current=current,
            depletes_at=depletes_at,
            maximum=maximum,
            minimum=minimum,
            organization=organization,
        )

        forecast_view.additional_properties = d
        return forecast_view

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
