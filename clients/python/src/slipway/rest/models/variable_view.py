from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

T = TypeVar("T", bound="VariableView")


@_attrs_define
class VariableView:
    """A variable a cluster of a blueprint takes.

    Attributes:
        allowed (list[str]): For strings: the only values allowed (empty: any).
        description (str):
        name (str):
        sensitive (bool): Masked in every log and output.
        type_ (str): `string`, `number`, `integer` or `bool`.
        default (Any | Unset): Used when none is given (null: the variable is required).
    """

    allowed: list[str]
    description: str
    name: str
    sensitive: bool
    type_: str
    default: Any | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        allowed = self.allowed

        description = self.description

        name = self.name

        sensitive = self.sensitive

        type_ = self.type_

        default = self.default

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "allowed": allowed,
                "description": description,
                "name": name,
                "sensitive": sensitive,
                "type": type_,
            }
        )
        if default is not UNSET:
            field_dict["default"] = default

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        allowed = cast(list[str], d.pop("allowed"))

        description = d.pop("description")

        name = d.pop("name")

        sensitive = d.pop("sensitive")

        type_ = d.pop("type")

        default = d.pop("default", UNSET)

        variable_view = cls(
            allowed=allowed,
            description=description,
            name=name,
            sensitive=sensitive,
            type_=type_,
            default=default,
        )

        variable_view.additional_properties = d
        return variable_view

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
