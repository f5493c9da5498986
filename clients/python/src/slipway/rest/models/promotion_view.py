from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.promotion_state import PromotionState

T = TypeVar("T", bound="PromotionView")


@_attrs_define
class PromotionView:
    """Whether an environment may take what the one it comes after was last
    applied.

        Attributes:
            from_ (str): The environment it comes after (e.g. `staging`).
            reason (str): Why, for a person.
            state (PromotionState):
    """

    from_: str
    reason: str
    state: PromotionState
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        from_ = self.from_

        reason = self.reason

        state = self.state.value

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "from": from_,
                "reason": reason,
                "state": state,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        from_ = d.pop("from")

        reason = d.pop("reason")

        state = PromotionState(d.pop("state"))

        promotion_view = cls(
            from_=from_,
            reason=reason,
            state=state,
        )

        promotion_view.additional_properties = d
        return promotion_view

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
