from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.capacity_result import CapacityResult
from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.capacity_request_view import CapacityRequestView
    from ..models.capacity_wait_view import CapacityWaitView


T = TypeVar("T", bound="CapacityResponse")


@_attrs_define
class CapacityResponse:
    """The answer to a capacity request (or its withdrawal).

    Attributes:
        requests (list[CapacityRequestView]): The cluster's active requests.
        result (CapacityResult): What a capacity request (or its withdrawal) did.
        operation (None | str | Unset): The operation that changes the cluster.
        request (CapacityRequestView | None | Unset):
        waiting (CapacityWaitView | None | Unset):
    """

    requests: list[CapacityRequestView]
    result: CapacityResult
    operation: None | str | Unset = UNSET
    request: CapacityRequestView | None | Unset = UNSET
    waiting: CapacityWaitView | None | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        from ..models.capacity_request_view import CapacityRequestView
        from ..models.capacity_wait_view import CapacityWaitView

        requests = []
        for requests_item_data in self.requests:
            requests_item = requests_item_data.to_dict()
            requests.append(requests_item)

        result = self.result.value

        operation: None | str | Unset
        if isinstance(self.operation, Unset):
            operation = UNSET
        else:
            operation = self.operation

        request: dict[str, Any] | None | Unset
        if isinstance(self.request, Unset):
            request = UNSET
        elif isinstance(self.request, CapacityRequestView):
            request = self.request.to_dict()
        else:
            request = self.request

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
                "result": result,
            }
        )
        if operation is not UNSET:
            field_dict["operation"] = operation
        if request is not UNSET:
            field_dict["request"] = request
        if waiting is not UNSET:
            field_dict["waiting"] = waiting

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.capacity_request_view import CapacityRequestView
        from ..models.capacity_wait_view import CapacityWaitView

        d = dict(src_dict)
        requests = []
        _requests = d.pop("requests")
        for requests_item_data in _requests:
            requests_item = CapacityRequestView.from_dict(requests_item_data)

            requests.append(requests_item)

        result = CapacityResult(d.pop("result"))

        def _parse_operation(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        operation = _parse_operation(d.pop("operation", UNSET))

        def _parse_request(data: object) -> CapacityRequestView | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                request_type_1 = CapacityRequestView.from_dict(data)

                return request_type_1
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(CapacityRequestView | None | Unset, data)

        request = _parse_request(d.pop("request", UNSET))

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

        capacity_response = cls(
            requests=requests,
            result=result,
            operation=operation,
            request=request,
            waiting=waiting,
        )

        capacity_response.additional_properties = d
        return capacity_response

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
