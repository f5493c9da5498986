from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field
from dateutil.parser import isoparse

from ..models.capacity_state import CapacityState
from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.capacity_wait_view import CapacityWaitView


T = TypeVar("T", bound="CapacityRequestView")


@_attrs_define
class CapacityRequestView:
    """A capacity request.

    Attributes:
        cluster (str):
        created_at (datetime.datetime):
        expires_at (datetime.datetime):
        id (str):
        login (str):
        nodes (int):
        state (CapacityState): Whether the cluster follows a capacity request yet.
        subject (str): Who asked.
        waiting (CapacityWaitView | None | Unset):
    """

    cluster: str
    created_at: datetime.datetime
    expires_at: datetime.datetime
    id: str
    login: str
    nodes: int
    state: CapacityState
    subject: str
    waiting: CapacityWaitView | None | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        from ..models.capacity_wait_view import CapacityWaitView

        cluster = self.cluster

        created_at = self.created_at.isoformat()

        expires_at = self.expires_at.isoformat()

        id = self.id

        login = self.login

        nodes = self.nodes

        state = self.state.value

        subject = self.subject

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
                "cluster": cluster,
                "created_at": created_at,
                "expires_at": expires_at,
                "id": id,
                "login": login,
                "nodes": nodes,
                "state": state,
                "subject": subject,
            }
        )
        if waiting is not UNSET:
            field_dict["waiting"] = waiting

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.capacity_wait_view import CapacityWaitView

        d = dict(src_dict)
        cluster = d.pop("cluster")

        created_at = isoparse(d.pop("created_at"))

        expires_at = isoparse(d.pop("expires_at"))

        id = d.pop("id")

        login = d.pop("login")

        nodes = d.pop("nodes")

        state = CapacityState(d.pop("state"))

        subject = d.pop("subject")

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

        capacity_request_view = cls(
            cluster=cluster,
            created_at=created_at,
            expires_at=expires_at,
            id=id,
            login=login,
            nodes=nodes,
            state=state,
            subject=subject,
            waiting=waiting,
        )

        capacity_request_view.additional_properties = d
        return capacity_request_view

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
