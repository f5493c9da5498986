from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field
from dateutil.parser import isoparse

from ..models.operation_kind import OperationKind
from ..models.operation_state import OperationState
from ..models.reason import Reason
from ..types import UNSET, Unset

T = TypeVar("T", bound="OperationView")


@_attrs_define
class OperationView:
    """An operation.

    Attributes:
        cluster (str):
        created_at (datetime.datetime):
        id (str):
        kind (OperationKind): What an operation does.
        nodes (int):
        reason (Reason): Why an operation was started.
        requested_by (str):
        state (OperationState): Where an operation is in its life.
        version (str):
        error (None | str | Unset):
        finished_at (datetime.datetime | None | Unset):
        started_at (datetime.datetime | None | Unset):
    """

    cluster: str
    created_at: datetime.datetime
    id: str
    kind: OperationKind
    nodes: int
    reason: Reason
    requested_by: str
    state: OperationState
    version: str
    error: None | str | Unset = UNSET
    finished_at: datetime.datetime | None | Unset = UNSET
    started_at: datetime.datetime | None | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        cluster = self.cluster

        created_at = self.created_at.isoformat()

        id = self.id

        kind = self.kind.value

        nodes = self.nodes

        reason = self.reason.value

        requested_by = self.requested_by

        state = self.state.value

        version = self.version

        error: None | str | Unset
        if isinstance(self.error, Unset):
            error = UNSET
        else:
            error = self.error

        finished_at: None | str | Unset
        if isinstance(self.finished_at, Unset):
            finished_at = UNSET
        elif isinstance(self.finished_at, datetime.datetime):
            finished_at = self.finished_at.isoformat()
        else:
            finished_at = self.finished_at

        started_at: None | str | Unset
        if isinstance(self.started_at, Unset):
            started_at = UNSET
        elif isinstance(self.started_at, datetime.datetime):
            started_at = self.started_at.isoformat()
        else:
            started_at = self.started_at

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "cluster": cluster,
                "created_at": created_at,
                "id": id,
                "kind": kind,
                "nodes": nodes,
                "reason": reason,
                "requested_by": requested_by,
                "state": state,
                "version": version,
            }
        )
        if error is not UNSET:
            field_dict["error"] = error
        if finished_at is not UNSET:
            field_dict["finished_at"] = finished_at
        if started_at is not UNSET:
            field_dict["started_at"] = started_at

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        cluster = d.pop("cluster")

        created_at = isoparse(d.pop("created_at"))

        id = d.pop("id")

        kind = OperationKind(d.pop("kind"))

        nodes = d.pop("nodes")

        reason = Reason(d.pop("reason"))

        requested_by = d.pop("requested_by")

        state = OperationState(d.pop("state"))

        version = d.pop("version")

        def _parse_error(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        error = _parse_error(d.pop("error", UNSET))

        def _parse_finished_at(data: object) -> datetime.datetime | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                finished_at_type_0 = isoparse(data)

                return finished_at_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None | Unset, data)

        finished_at = _parse_finished_at(d.pop("finished_at", UNSET))

        def _parse_started_at(data: object) -> datetime.datetime | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                started_at_type_0 = isoparse(data)

                return started_at_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None | Unset, data)

        started_at = _parse_started_at(d.pop("started_at", UNSET))

        operation_view = cls(
            cluster=cluster,
            created_at=created_at,
            id=id,
            kind=kind,
            nodes=nodes,
            reason=reason,
            requested_by=requested_by,
            state=state,
            version=version,
            error=error,
            finished_at=finished_at,
            started_at=started_at,
        )

        operation_view.additional_properties = d
        return operation_view

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
