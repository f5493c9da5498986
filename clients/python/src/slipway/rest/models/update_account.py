from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, cast

from attrs import define as _attrs_define

from ..types import UNSET, Unset

T = TypeVar("T", bound="UpdateAccount")


@_attrs_define
class UpdateAccount:
    """`PATCH /v1/orgs/{name}/account` (administrators): what is given changes;
    the first change opens the account. Every change is audited with its
    reason.

        Attributes:
            reason (str): Why (required; recorded in the audit log).
            balance (None | str | Unset):
            max_balance (None | str | Unset):
            monthly_allowance (None | str | Unset):
    """

    reason: str
    balance: None | str | Unset = UNSET
    max_balance: None | str | Unset = UNSET
    monthly_allowance: None | str | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        reason = self.reason

        balance: None | str | Unset
        if isinstance(self.balance, Unset):
            balance = UNSET
        else:
            balance = self.balance

        max_balance: None | str | Unset
        if isinstance(self.max_balance, Unset):
            max_balance = UNSET
        else:
            max_balance = self.max_balance

        monthly_allowance: None | str | Unset
        if isinstance(self.monthly_allowance, Unset):
            monthly_allowance = UNSET
        else:
            monthly_allowance = self.monthly_allowance

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "reason": reason,
            }
        )
        if balance is not UNSET:
            field_dict["balance"] = balance
        if max_balance is not UNSET:
            field_dict["max_balance"] = max_balance
        if monthly_allowance is not UNSET:
            field_dict["monthly_allowance"] = monthly_allowance

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        reason = d.pop("reason")

        def _parse_balance(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        balance = _parse_balance(d.pop("balance", UNSET))

        def _parse_max_balance(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        max_balance = _parse_max_balance(d.pop("max_balance", UNSET))

        def _parse_monthly_allowance(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        monthly_allowance = _parse_monthly_allowance(d.pop("monthly_allowance", UNSET))

        update_account = cls(
            reason=reason,
            balance=balance,
            max_balance=max_balance,
            monthly_allowance=monthly_allowance,
        )

        return update_account
