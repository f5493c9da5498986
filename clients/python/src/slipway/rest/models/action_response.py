from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.action_result import ActionResult
from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.cluster_status import ClusterStatus
    from ..models.operation_view import OperationView


T = TypeVar("T", bound="ActionResponse")


@_attrs_define
class ActionResponse:
    """The answer to a deploy, destroy or schedule request.

    Attributes:
        cluster (ClusterStatus): `GET /v1/clusters/{name}`: what a cluster is and where it stands.
        result (ActionResult): What a deploy, destroy or schedule request did.
        operation (None | OperationView | Unset):
        withdrawn_capacity_requests (list[str] | Unset): The capacity requests this decision withdrew (a destroy
            withdraws
            every request of the cluster).
    """

    cluster: ClusterStatus
    result: ActionResult
    operation: None | OperationView | Unset = UNSET
    withdrawn_capacity_requests: list[str] | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        from ..models.operation_view import OperationView

        cluster = self.cluster.to_dict()

        result = self.result.value

        operation: dict[str, Any] | None | Unset
        if isinstance(self.operation, Unset):
            operation = UNSET
        elif isinstance(self.operation, OperationView):
            operation = self.operation.to_dict()
        else:
            operation = self.operation

        withdrawn_capacity_requests: list[str] | Unset = UNSET
        if not isinstance(self.withdrawn_capacity_requests, Unset):
            withdrawn_capacity_requests = self.withdrawn_capacity_requests

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "cluster": cluster,
                "result": result,
            }
        )
        if operation is not UNSET:
            field_dict["operation"] = operation
        if withdrawn_capacity_requests is not UNSET:
            field_dict["withdrawn_capacity_requests"] = withdrawn_capacity_requests

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.cluster_status import ClusterStatus
        from ..models.operation_view import OperationView

        d = dict(src_dict)
        cluster = ClusterStatus.from_dict(d.pop("cluster"))

        result = ActionResult(d.pop("result"))

        def _parse_operation(data: object) -> None | OperationView | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                operation_type_1 = OperationView.from_dict(data)

                return operation_type_1
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | OperationView | Unset, data)

        operation = _parse_operation(d.pop("operation", UNSET))

        withdrawn_capacity_requests = cast(
            list[str], d.pop("withdrawn_capacity_requests", UNSET)
        )

        action_response = cls(
            cluster=cluster,
            result=result,
            operation=operation,
            withdrawn_capacity_requests=withdrawn_capacity_requests,
        )

        action_response.additional_properties = d
        return action_response

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
