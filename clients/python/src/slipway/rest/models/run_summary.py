from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field
from dateutil.parser import isoparse

from ..models.operation_kind import OperationKind

T = TypeVar("T", bound="RunSummary")


@_attrs_define
class RunSummary:
    """The report's line for one cluster, kind and version.

    Attributes:
        cluster (str):
        kind (OperationKind): What an operation does.
        latest_at (datetime.datetime):
        latest_passed (bool): The latest run's outcome, id and end.
        latest_run (str):
        pass_rate (float): `passed / runs`, between 0 and 1.
        passed (int):
        runs (int):
        version (str):
    """

    cluster: str
    kind: OperationKind
    latest_at: datetime.datetime
    latest_passed: bool
    latest_run: str
    pass_rate: float
    passed: int
    runs: int
    version: str
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        cluster = self.cluster

        kind = self.kind.value

        latest_at = self.latest_at.isoformat()

        latest_passed = self.latest_passed

        latest_run = self.latest_run

        pass_rate = self.pass_rate

        passed = self.passed

        runs = self.runs

        version = self.version

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "cluster": cluster,
                "kind": kind,
                "latest_at": latest_at,
                "latest_passed": latest_passed,
                "latest_run": latest_run,
                "pass_rate": pass_rate,
                "passed": passed,
                "runs": runs,
                "version": version,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        cluster = d.pop("cluster")

        kind = OperationKind(d.pop("kind"))

        latest_at = isoparse(d.pop("latest_at"))

        latest_passed = d.pop("latest_passed")

        latest_run = d.pop("latest_run")

        pass_rate = d.pop("pass_rate")

        passed = d.pop("passed")

        runs = d.pop("runs")

        version = d.pop("version")

        run_summary = cls(
            cluster=cluster,
            kind=kind,
            latest_at=latest_at,
            latest_passed=latest_passed,
            latest_run=latest_run,
            pass_rate=pass_rate,
            passed=passed,
            runs=runs,
            version=version,
        )

        run_summary.additional_properties = d
        return run_summary

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
