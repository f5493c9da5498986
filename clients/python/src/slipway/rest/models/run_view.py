from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.operation_view import OperationView
    from ..models.step_result import StepResult


T = TypeVar("T", bound="RunView")


@_attrs_define
class RunView:
    """A TEST or RELEASE run: its operation (whose log is the run's log), the
    project version, and — once it ended — every step's result.

        Attributes:
            operation (OperationView): An operation.
            steps (list[StepResult]):
            version (str): The project's version the run checked out.
            passed (bool | None | Unset): Whether every step passed; absent while the run is in flight.
            runner (None | str | Unset): `process` or `terraform`, once known.
    """

    operation: OperationView
    steps: list[StepResult]
    version: str
    passed: bool | None | Unset = UNSET
    runner: None | str | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        operation = self.operation.to_dict()

        steps = []
        for steps_item_data in self.steps:
            steps_item = steps_item_data.to_dict()
            steps.append(steps_item)

        version = self.version

        passed: bool | None | Unset
        if isinstance(self.passed, Unset):
            passed = UNSET
        else:
            passed = self.passed

        runner: None | str | Unset
        if isinstance(self.runner, Unset):
            runner = UNSET
        else:
            runner = self.runner

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "operation": operation,
                "steps": steps,
                "version": version,
            }
        )
        if passed is not UNSET:
            field_dict["passed"] = passed
        if runner is not UNSET:
            field_dict["runner"] = runner

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.operation_view import OperationView
        from ..models.step_result import StepResult

        d = dict(src_dict)
        operation = OperationView.from_dict(d.pop("operation"))

        steps = []
        _steps = d.pop("steps")
        for steps_item_data in _steps:
            steps_item = StepResult.from_dict(steps_item_data)

            steps.append(steps_item)

        version = d.pop("version")

        def _parse_passed(data: object) -> bool | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(bool | None | Unset, data)

        passed = _parse_passed(d.pop("passed", UNSET))

        def _parse_runner(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        runner = _parse_runner(d.pop("runner", UNSET))

        run_view = cls(
            operation=operation,
            steps=steps,
            version=version,
            passed=passed,
            runner=runner,
        )

        run_view.additional_properties = d
        return run_view

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
