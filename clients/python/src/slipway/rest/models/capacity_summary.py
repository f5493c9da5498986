from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.capacity_wait_view import CapacityWaitView


T = TypeVar("T", bound="CapacitySummary")


@_attrs_define
class CapacitySummary:
    """A cluster's capacity requests, in brief.

    Attributes:
        requests (int): Requests in force (a destroy withdraws them).
        held_nodes (int | None | Unset): The size they hold the cluster at, while there are any.
        waiting (CapacityWaitView | None | Unset):
    """

    requests: int
    held_nodes: int | None | Unset = UNSET
    waiting: CapacityWaitView | None | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        from ..models.capacity_wait_view import CapacityWaitView

        requests = self.requests

        held_nodes: int | None | Unset
        if isinstance(self.held_nodes, Unset):
            held_nodes = UNSET
        else:
            held_nodes = self.held_nodes

        waiting: dict[str, Any] | None | Unset
        if isinstance(self.waiting, Unset):
            waiting = UNSET
        elif isinstance(self.waiting, CapacityWaitView):
            waiting = self.waiting.to_dict()
        else:
            waiting = self.waiting

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "requests": requests,
            }
        )
        if held_nodes is not UNSET:
            field_dict["held_nodes"] = held_nodes
        if waiting is not UNSET:
            field_dict["waiting"] = waiting

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.capacity_wait_view import CapacityWaitView

        d = dict(src_dict)
        requests = d.pop("requests")

        def _parse_held_nodes(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        held_nodes = _parse_held_nodes(d.pop("held_nodes", UNSET))

        def _parse_waiting(data: object) -> CapacityWaitView | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                waiting_type_1 = CapacityWaitView.from_dict(data)

                return waiting_type_1
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(CapacityWaitView | None | Unset, data)

        waiting = _parse_waiting(d.pop("waiting", UNSET))

        capacity_summary = cls(
            requests=requests,
            held_nodes=held_nodes,
            waiting=waiting,
        )

        capacity_summary.additional_properties = d
        return capacity_summary

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
