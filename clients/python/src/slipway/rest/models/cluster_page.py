from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.cluster_status import ClusterStatus


T = TypeVar("T", bound="ClusterPage")


@_attrs_define
class ClusterPage:
    """`GET /v1/clusters`: one page of the clusters the caller may see, by
    name.

        Attributes:
            clusters (list[ClusterStatus]):
            next_cursor (None | str | Unset): Pass as `cursor` for the next page; absent on the last page.
            prev_cursor (None | str | Unset): Pass as `before` for the previous page; absent on the first.
    """

    clusters: list[ClusterStatus]
    next_cursor: None | str | Unset = UNSET
    prev_cursor: None | str | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        clusters = []
        for clusters_item_data in self.clusters:
            clusters_item = clusters_item_data.to_dict()
            clusters.append(clusters_item)

        next_cursor: None | str | Unset
        if isinstance(self.next_cursor, Unset):
            next_cursor = UNSET
        else:
            next_cursor = self.next_cursor

        prev_cursor: None | str | Unset
        if isinstance(self.prev_cursor, Unset):
            prev_cursor = UNSET
        else:
            prev_cursor = self.prev_cursor

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "clusters": clusters,
            }
        )
        if next_cursor is not UNSET:
            field_dict["next_cursor"] = next_cursor
        if prev_cursor is not UNSET:
            field_dict["prev_cursor"] = prev_cursor

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.cluster_status import ClusterStatus

        d = dict(src_dict)
        clusters = []
        _clusters = d.pop("clusters")
        for clusters_item_data in _clusters:
            clusters_item = ClusterStatus.from_dict(clusters_item_data)

            clusters.append(clusters_item)

        def _parse_next_cursor(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        next_cursor = _parse_next_cursor(d.pop("next_cursor", UNSET))

        def _parse_prev_cursor(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        prev_cursor = _parse_prev_cursor(d.pop("prev_cursor", UNSET))

        cluster_page = cls(
            clusters=clusters,
            next_cursor=next_cursor,
            prev_cursor=prev_cursor,
        )

        cluster_page.additional_properties = d
        return cluster_page

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
