from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

T = TypeVar("T", bound="Limits")


@_attrs_define
class Limits:
    """An organization's limits on what its members deploy (administrators have
    none but the absolute ceiling on nodes) — and, for everyone, on how many
    of its clusters' operations run at once.

        Attributes:
            max_clusters (int): Clusters of the organization deployed at once.
            max_lifetime_secs (int): How far ahead a deploy's destroy time may be, in seconds.
            max_nodes (int): Nodes in one cluster.
            min_lifetime_secs (int): How near a deploy's destroy time may be, in seconds.
            max_defined_clusters (int | Unset): Clusters its members may define, deployed or not: names are unique
                site-wide, so an organization may not hold more than it uses.
            max_running_operations (int | Unset): Operations of its clusters running at once, whoever asked: its
                share of the workers (`fairness`). Its queue is bounded already: a
                cluster has one infrastructure operation queued or running at a time.
    """

    max_clusters: int
    max_lifetime_secs: int
    max_nodes: int
    min_lifetime_secs: int
    max_defined_clusters: int | Unset = UNSET
    max_running_operations: int | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        max_clusters = self.max_clusters

        max_lifetime_secs = self.max_lifetime_secs

        max_nodes = self.max_nodes

        min_lifetime_secs = self.min_lifetime_secs

        max_defined_clusters = self.max_defined_clusters

        max_running_operations = self.max_running_operations

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "max_clusters": max_clusters,
                "max_lifetime_secs": max_lifetime_secs,
                "max_nodes": max_nodes,
                "min_lifetime_secs": min_lifetime_secs,
            }
        )
        if max_defined_clusters is not UNSET:
            field_dict["max_defined_clusters"] = max_defined_clusters
        if max_running_operations is not UNSET:
            field_dict["max_running_operations"] = max_running_operations

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        max_clusters = d.pop("max_clusters")

        max_lifetime_secs = d.pop("max_lifetime_secs")

        max_nodes = d.pop("max_nodes")

        min_lifetime_secs = d.pop("min_lifetime_secs")

        max_defined_clusters = d.pop("max_defined_clusters", UNSET)

        max_running_operations = d.pop("max_running_operations", UNSET)

        limits = cls(
            max_clusters=max_clusters,
            max_lifetime_secs=max_lifetime_secs,
            max_nodes=max_nodes,
            min_lifetime_secs=min_lifetime_secs,
            max_defined_clusters=max_defined_clusters,
            max_running_operations=max_running_operations,
        )

        limits.additional_properties = d
        return limits

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
