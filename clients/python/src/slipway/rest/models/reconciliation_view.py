from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

if TYPE_CHECKING:
    from ..models.account_view import AccountView


T = TypeVar("T", bound="ReconciliationView")


@_attrs_define
class ReconciliationView:
    """`POST /v1/orgs/{name}/account/reconcile`: what a reconciliation did.

    Attributes:
        account (AccountView): `GET /v1/orgs/{name}/account`: an organization's budget account. Money
            is exact decimal text in US dollars (`"12.34"`).
        capped_off (str): An exact amount of US dollars, as a decimal string.
        credited (str): An exact amount of US dollars, as a decimal string.
        debited (str): An exact amount of US dollars, as a decimal string.
        hours_charged (int): Hours whose charge changed.
        shut_down (list[str]): Clusters the budget destroyed (the balance fell under the floor).
        warned (list[str]): Warnings sent by this reconciliation.
    """

    account: AccountView
    capped_off: str
    credited: str
    debited: str
    hours_charged: int
    shut_down: list[str]
    warned: list[str]
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        account = self.account.to_dict()

        capped_off = self.capped_off

        credited = self.credited

        debited = self.debited

        hours_charged = self.hours_charged

        shut_down = self.shut_down

        warned = self.warned

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "account": account,
                "capped_off": capped_off,
                "credited": credited,
                "debited": debited,
                "hours_charged": hours_charged,
                "shut_down": shut_down,
                "warned": warned,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.account_view import AccountView

        d = dict(src_dict)
        account = AccountView.from_dict(d.pop("account"))

        capped_off = d.pop("capped_off")

        credited = d.pop("credited")

        debited = d.pop("debited")

        hours_charged = d.pop("hours_charged")

        shut_down = cast(list[str], d.pop("shut_down"))

        warned = cast(list[str], d.pop("warned"))

        reconciliation_view = cls(
            account=account,
            capped_off=capped_off,
            credited=credited,
            debited=debited,
            hours_charged=hours_charged,
            shut_down=shut_down,
            warned=warned,
        )

        reconciliation_view.additional_properties = d
        return reconciliation_view

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
