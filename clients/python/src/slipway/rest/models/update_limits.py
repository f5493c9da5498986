from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, cast

from attrs import define as _attrs_define

from ..types import UNSET, Unset

T = TypeVar("T", bound="UpdateLimits")


@_attrs_define
class UpdateLimits:
    """Limits to change; durations as `12h`, `15m`.

    Attributes:
        max_clusters (int | None | Unset):
        max_defined_clusters (int | None | Unset): Clusters its members may define, deployed or not.
        max_lifetime (None | str | Unset):
        max_nodes (int | None | Unset):
        max_running_operations (int | None | Unset): Operations of its clusters running at once (anyone's).
        min_lifetime (None | str | Unset):
    """

    max_clusters: int | None | Unset = UNSET
    max_defined_clusters: int | None | Unset = UNSET
    max_lifetime: None | str | Unset = UNSET
    max_nodes: int | None | Unset = UNSET
    max_running_operations: int | None | Unset = UNSET
    min_lifetime: None | str | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        max_clusters: int | None | Unset
        if isinstance(self.max_clusters, Unset):
            max_clusters = UNSET
        else:
            max_clusters = self.max_clusters

        max_defined_clusters: int | None | Unset
        if isinstance(self.max_defined_clusters, Unset):
            max_defined_clusters = UNSET
        else:
            max_defined_clusters = self.max_defined_clusters

        max_lifetime: None | str | Unset
        if isinstance(self.max_lifetime, Unset):
            max_lifetime = UNSET
        else:
            max_lifetime = self.max_lifetime

        max_nodes: int | None | Unset
        if isinstance(self.max_nodes, Unset):
            max_nodes = UNSET
        else:
            max_nodes = self.max_nodes

        max_running_operations: int | None | Unset
        if isinstance(self.max_running_operations, Unset):
            max_running_operations = UNSET
        else:
            max_running_operations = self.max_running_operations

        min_lifetime: None | str | Unset
        if isinstance(self.min_lifetime, Unset):
            min_lifetime = UNSET
        else:
            min_lifetime = self.min_lifetime

        field_dict: dict[str, Any] = {}

        field_dict.update({})
        if max_clusters is not UNSET:
            field_dict["max_clusters"] = max_clusters
        if max_defined_clusters is not UNSET:
            field_dict["max_defined_clusters"] = max_defined_clusters
        if max_lifetime is not UNSET:
            field_dict["max_lifetime"] = max_lifetime
        if max_nodes is not UNSET:
            field_dict["max_nodes"] = max_nodes
        if max_running_operations is not UNSET:
            field_dict["max_running_operations"] = max_running_operations
        if min_lifetime is not UNSET:
            field_dict["min_lifetime"] = min_lifetime

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)

        def _parse_max_clusters(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        max_clusters = _parse_max_clusters(d.pop("max_clusters", UNSET))

        def _parse_max_defined_clusters(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        max_defined_clusters = _parse_max_defined_clusters(
            d.pop("max_defined_clusters", UNSET)
        )

        def _parse_max_lifetime(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        max_lifetime = _parse_max_lifetime(d.pop("max_lifetime", UNSET))

        def _parse_max_nodes(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        max_nodes = _parse_max_nodes(d.pop("max_nodes", UNSET))

        def _parse_max_running_operations(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        max_running_operations = _parse_max_running_operations(
            d.pop("max_running_operations", UNSET)
        )

        def _parse_min_lifetime(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        min_lifetime = _parse_min_lifetime(d.pop("min_lifetime", UNSET))

        update_limits = cls(
            max_clusters=max_clusters,
            max_defined_clusters=max_defined_clusters,
            max_lifetime=max_lifetime,
            max_nodes=max_nodes,
            max_running_operations=max_running_operations,
            min_lifetime=min_lifetime,
        )

        return update_limits
