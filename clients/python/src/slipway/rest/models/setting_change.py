from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

T = TypeVar("T", bound="SettingChange")


@_attrs_define
class SettingChange:
    """One difference: a setting, what it is asked to be now and what the
    repository says.

        Attributes:
            setting (str): `version`, `nodes`, `public`, `protected`, `variables.<name>`,
                `secrets.<name>`, or `drift` (what a drift check found changed
                outside Slipway, to be repaired).
            from_ (Any | Unset): Any JSON value (a version, a number, a flag, a variable's value).
            to (Any | Unset): Any JSON value.
    """

    setting: str
    from_: Any | Unset = UNSET
    to: Any | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        setting = self.setting

        from_ = self.from_

        to = self.to

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "setting": setting,
            }
        )
        if from_ is not UNSET:
            field_dict["from"] = from_
        if to is not UNSET:
            field_dict["to"] = to

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        setting = d.pop("setting")

        from_ = d.pop("from", UNSET)

        to = d.pop("to", UNSET)

        setting_change = cls(
            setting=setting,
            from_=from_,
            to=to,
        )

        setting_change.additional_properties = d
        return setting_change

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
