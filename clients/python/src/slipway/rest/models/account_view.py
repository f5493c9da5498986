from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field
from dateutil.parser import isoparse

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.depletion_view import DepletionView
    from ..models.rates_view import RatesView


T = TypeVar("T", bound="AccountView")


@_attrs_define
class AccountView:
    """`GET /v1/orgs/{name}/account`: an organization's budget account. Money
    is exact decimal text in US dollars (`"12.34"`).

        Attributes:
            balance (str): An exact amount of US dollars, as a decimal string.
            burn_rates (RatesView): Dollars per hour at three sizes.
            currency (str): Always `USD`.
            depletes_at (DepletionView): When the money runs out at each rate.
            fiscal_year_start (datetime.datetime):
            fytd_cost (str): An exact amount of US dollars, as a decimal string.
            max_balance (str): An exact amount of US dollars, as a decimal string.
            monthly_allowance (str): An exact amount of US dollars, as a decimal string.
            opened (bool): Whether an administrator opened the account; an organization without
                one is not budgeted (its costs are still recorded).
            organization (str):
            provisional_cost (str): An exact amount of US dollars, as a decimal string.
            warnings (list[str]): Warnings in force (thresholds crossed).
            costs_settled_at (datetime.datetime | None | Unset): Until when costs are settled (absent: never yet).
            last_charge_at (datetime.datetime | None | Unset):
            last_credit_at (datetime.datetime | None | Unset):
            last_reconciled_at (datetime.datetime | None | Unset):
    """

    balance: str
    burn_rates: RatesView
    currency: str
    depletes_at: DepletionView
    fiscal_year_start: datetime.datetime
    fytd_cost: str
    max_balance: str
    monthly_allowance: str
    opened: bool
    organization: str
    provisional_cost: str
    warnings: list[str]
    costs_settled_at: datetime.datetime | None | Unset = UNSET
    last_charge_at: datetime.datetime | None | Unset = UNSET
    last_credit_at: datetime.datetime | None | Unset = UNSET
    last_reconciled_at: datetime.datetime | None | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        balance = self.balance

        burn_rates = self.burn_rates.to_dict()

        currency = self.currency

        depletes_at = self.depletes_at.to_dict()

        fiscal_year_start = self.fiscal_year_start.isoformat()

        fytd_cost = self.fytd_cost

        max_balance = self.max_balance

        monthly_allowance = self.monthly_allowance

        opened = self.opened

        organization = self.organization

        provisional_cost = self.provisional_cost

        warnings = self.warnings

        costs_settled_at: None | str | Unset
        if isinstance(self.costs_settled_at, Unset):
            costs_settled_at = UNSET
        elif isinstance(self.costs_settled_at, datetime.datetime):
            costs_settled_at = self.costs_settled_at.isoformat()
        else:
            costs_settled_at = self.costs_settled_at

        last_charge_at: None | str | Unset
        if isinstance(self.last_charge_at, Unset):
            last_charge_at = UNSET
        elif isinstance(self.last_charge_at, datetime.datetime):
            last_charge_at = self.last_charge_at.isoformat()
        else:
            last_charge_at = self.last_charge_at

        last_credit_at: None | str | Unset
        if isinstance(self.last_credit_at, Unset):
            last_credit_at = UNSET
        elif isinstance(self.last_credit_at, datetime.datetime):
            last_credit_at = self.last_credit_at.isoformat()
        else:
            last_credit_at = self.last_credit_at

        last_reconciled_at: None | str | Unset
        if isinstance(self.last_reconciled_at, Unset):
            last_reconciled_at = UNSET
        elif isinstance(self.last_reconciled_at, datetime.datetime):
            last_reconciled_at = self.last_reconciled_at.isoformat()
        else:
            last_reconciled_at = self.last_reconciled_at

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "balance": balance,
                "burn_rates": burn_rates,
                "currency": currency,
                "depletes_at": depletes_at,
                "fiscal_year_start": fiscal_year_start,
                "fytd_cost": fytd_cost,
                "max_balance": max_balance,
                "monthly_allowance": monthly_allowance,
                "opened": opened,
                "organization": organization,
                "provisional_cost": provisional_cost,
                "warnings": warnings,
            }
        )
        if costs_settled_at is not UNSET:
            field_dict["costs_settled_at"] = costs_settled_at
        if last_charge_at is not UNSET:
            field_dict["last_charge_at"] = last_charge_at
        if last_credit_at is not UNSET:
            field_dict["last_credit_at"] = last_credit_at
        if last_reconciled_at is not UNSET:
            field_dict["last_reconciled_at"] = last_reconciled_at

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.depletion_view import DepletionView
        from ..models.rates_view import RatesView

        d = dict(src_dict)
        balance = d.pop("balance")

        burn_rates = RatesView.from_dict(d.pop("burn_rates"))

        currency = d.pop("currency")

        depletes_at = DepletionView.from_dict(d.pop("depletes_at"))

        fiscal_year_start = isoparse(d.pop("fiscal_year_start"))

        fytd_cost = d.pop("fytd_cost")

        max_balance = d.pop("max_balance")

        monthly_allowance = d.pop("monthly_allowance")

        opened = d.pop("opened")

        organization = d.pop("organization")

        provisional_cost = d.pop("provisional_cost")

        warnings = cast(list[str], d.pop("warnings"))

        def _parse_costs_settled_at(data: object) -> datetime.datetime | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                costs_settled_at_type_0 = isoparse(data)

                return costs_settled_at_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None | Unset, data)

        costs_settled_at = _parse_costs_settled_at(d.pop("costs_settled_at", UNSET))

        def _parse_last_charge_at(data: object) -> datetime.datetime | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                last_charge_at_type_0 = isoparse(data)

                return last_charge_at_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None | Unset, data)

        last_charge_at = _parse_last_charge_at(d.pop("last_charge_at", UNSET))

        def _parse_last_credit_at(data: object) -> datetime.datetime | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                last_credit_at_type_0 = isoparse(data)

                return last_credit_at_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None | Unset, data)

        last_credit_at = _parse_last_credit_at(d.pop("last_credit_at", UNSET))

        def _parse_last_reconciled_at(data: object) -> datetime.datetime | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                last_reconciled_at_type_0 = isoparse(data)

                return last_reconciled_at_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None | Unset, data)

        last_reconciled_at = _parse_last_reconciled_at(
            d.pop("last_reconciled_at", UNSET)
        )

        account_view = cls(
            balance=balance,
            burn_rates=burn_rates,
            currency=currency,
            depletes_at=depletes_at,
            fiscal_year_start=fiscal_year_start,
            fytd_cost=fytd_cost,
            max_balance=max_balance,
            monthly_allowance=monthly_allowance,
            opened=opened,
            organization=organization,
            provisional_cost=provisional_cost,
            warnings=warnings,
            costs_settled_at=costs_settled_at,
            last_charge_at=last_charge_at,
            last_credit_at=last_credit_at,
            last_reconciled_at=last_reconciled_at,
        )

        account_view.additional_properties = d
        return account_view

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
