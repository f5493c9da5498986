from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field
from dateutil.parser import isoparse

from ..models.cluster_state import ClusterState
from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.capacity_summary import CapacitySummary
    from ..models.cluster_status_outputs import ClusterStatusOutputs
    from ..models.operation_summary import OperationSummary


T = TypeVar("T", bound="ClusterStatus")


@_attrs_define
class ClusterStatus:
    """`GET /v1/clusters/{name}`: what a cluster is and where it stands.

    Attributes:
        blueprint (str):
        capacity (CapacitySummary): A cluster's capacity requests, in brief.
        created_at (datetime.datetime):
        created_by (str):
        name (str):
        nodes (int): The requested size.
        organization (str):
        outputs (ClusterStatusOutputs): Terraform outputs of the last apply, sensitive ones masked.
        public (bool):
        state (ClusterState): Where a cluster is in its life.

            `absent` → `deploying` → `running` | `failed`; `running` → `updating` →
            `running` | `failed`; `running` | `failed` → `destroying` → `absent` |
            `failed`. A `failed` cluster keeps its error; deploy or destroy may be
            retried.
        updated_at (datetime.datetime):
        version (str):
        deprecated (None | str | Unset): The blueprint version it runs is deprecated, and why: no new cluster
            runs it; move this one on with a deploy to another version.
        destroy_at (datetime.datetime | None | Unset): The scheduled destroy, if any.
        drift (list[str] | Unset): What the last drift check found differing from the deployed
            configuration, changed outside Slipway: resource instances a deploy
            would change, or `outputs`. Empty: nothing. A deploy (or `slipway
            apply`) of the same configuration repairs it.
        drift_checked_at (datetime.datetime | None | Unset): When what exists was last checked (a refresh, a drift check
            or a
            successful deploy).
        endpoint (None | str | Unset): The cluster's front door (the `endpoint` output).
        error (None | str | Unset): The error that left the cluster `failed`.
        last_operation (None | OperationSummary | Unset):
        protected (bool | Unset): Kept: never destroyed nor scheduled for destroy unless an
            administrator forces it.
    """

    blueprint: str
    capacity: CapacitySummary
    created_at: datetime.datetime
    created_by: str
    name: str
    nodes: int
    organization: str
    outputs: ClusterStatusOutputs
    public: bool
    state: ClusterState
    updated_at: datetime.datetime
    version: str
    deprecated: None | str | Unset = UNSET
    destroy_at: datetime.datetime | None | Unset = UNSET
    drift: list[str] | Unset = UNSET
    drift_checked_at: datetime.datetime | None | Unset = UNSET
    endpoint: None | str | Unset = UNSET
    error: None | str | Unset = UNSET
    last_operation: None | OperationSummary | Unset = UNSET
    protected: bool | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        from ..models.operation_summary import OperationSummary

        blueprint = self.blueprint

        capacity = self.capacity.to_dict()

        created_at = self.created_at.isoformat()

        created_by = self.created_by

        name = self.name

        nodes = self.nodes

        organization = self.organization

        outputs = self.outputs.to_dict()

        public = self.public

        state = self.state.value

        updated_at = self.updated_at.isoformat()

        version = self.version

        deprecated: None | str | Unset
        if isinstance(self.deprecated, Unset):
            deprecated = UNSET
        else:
            deprecated = self.deprecated

        destroy_at: None | str | Unset
        if isinstance(self.destroy_at, Unset):
            destroy_at = UNSET
        elif isinstance(self.destroy_at, datetime.datetime):
            destroy_at = self.destroy_at.isoformat()
        else:
            destroy_at = self.destroy_at

        drift: list[str] | Unset = UNSET
        if not isinstance(self.drift, Unset):
            drift = self.drift

        drift_checked_at: None | str | Unset
        if isinstance(self.drift_checked_at, Unset):
            drift_checked_at = UNSET
        elif isinstance(self.drift_checked_at, datetime.datetime):
            drift_checked_at = self.drift_checked_at.isoformat()
        else:
            drift_checked_at = self.drift_checked_at

        endpoint: None | str | Unset
        if isinstance(self.endpoint, Unset):
            endpoint = UNSET
        else:
            endpoint = self.endpoint

        error: None | str | Unset
        if isinstance(self.error, Unset):
            error = UNSET
        else:
            error = self.error

        last_operation: dict[str, Any] | None | Unset
        if isinstance(self.last_operation, Unset):
            last_operation = UNSET
        elif isinstance(self.last_operation, OperationSummary):
            last_operation = self.last_operation.to_dict()
        else:
            last_operation = self.last_operation

        protected = self.protected

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "blueprint": blueprint,
                "capacity": capacity,
                "created_at": created_at,
                "created_by": created_by,
                "name": name,
                "nodes": nodes,
                "organization": organization,
                "outputs": outputs,
                "public": public,
                "state": state,
                "updated_at": updated_at,
                "version": version,
            }
        )
        if deprecated is not UNSET:
            field_dict["deprecated"] = deprecated
        if destroy_at is not UNSET:
            field_dict["destroy_at"] = destroy_at
        if drift is not UNSET:
            field_dict["drift"] = drift
        if drift_checked_at is not UNSET:
            field_dict["drift_checked_at"] = drift_checked_at
        if endpoint is not UNSET:
            field_dict["endpoint"] = endpoint
        if error is not UNSET:
            field_dict["error"] = error
        if last_operation is not UNSET:
            field_dict["last_operation"] = last_operation
        if protected is not UNSET:
            field_dict["protected"] = protected

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.capacity_summary import CapacitySummary
        from ..models.cluster_status_outputs import ClusterStatusOutputs
        from ..models.operation_summary import OperationSummary

        d = dict(src_dict)
        blueprint = d.pop("blueprint")

        capacity = CapacitySummary.from_dict(d.pop("capacity"))

        created_at = isoparse(d.pop("created_at"))

        created_by = d.pop("created_by")

        name = d.pop("name")

        nodes = d.pop("nodes")

        organization = d.pop("organization")

        outputs = ClusterStatusOutputs.from_dict(d.pop("outputs"))

        public = d.pop("public")

        state = ClusterState(d.pop("state"))

        updated_at = isoparse(d.pop("updated_at"))

        version = d.pop("version")

        def _parse_deprecated(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        deprecated = _parse_deprecated(d.pop("deprecated", UNSET))

        def _parse_destroy_at(data: object) -> datetime.datetime | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                destroy_at_type_0 = isoparse(data)

                return destroy_at_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None | Unset, data)

        destroy_at = _parse_destroy_at(d.pop("destroy_at", UNSET))

        drift = cast(list[str], d.pop("drift", UNSET))

        def _parse_drift_checked_at(data: object) -> datetime.datetime | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                drift_checked_at_type_0 = isoparse(data)

                return drift_checked_at_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None | Unset, data)

        drift_checked_at = _parse_drift_checked_at(d.pop("drift_checked_at", UNSET))

        def _parse_endpoint(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        endpoint = _parse_endpoint(d.pop("endpoint", UNSET))

        def _parse_error(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        error = _parse_error(d.pop("error", UNSET))

        def _parse_last_operation(data: object) -> None | OperationSummary | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                last_operation_type_1 = OperationSummary.from_dict(data)

                return last_operation_type_1
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | OperationSummary | Unset, data)

        last_operation = _parse_last_operation(d.pop("last_operation", UNSET))

        protected = d.pop("protected", UNSET)

        cluster_status = cls(
            blueprint=blueprint,
            capacity=capacity,
            created_at=created_at,
            created_by=created_by,
            name=name,
            nodes=nodes,
            organization=organization,
            outputs=outputs,
            public=public,
            state=state,
            updated_at=updated_at,
            version=version,
            deprecated=deprecated,
            destroy_at=destroy_at,
            drift=drift,
            drift_checked_at=drift_checked_at,
            endpoint=endpoint,
            error=error,
            last_operation=last_operation,
            protected=protected,
        )

        cluster_status.additional_properties = d
        return cluster_status

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
