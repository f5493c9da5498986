from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field
from dateutil.parser import isoparse

if TYPE_CHECKING:
    from ..models.cost_bucket_view_by_cluster import CostBucketViewByCluster
    from ..models.cost_bucket_view_by_source import CostBucketViewBySource


T = TypeVar("T", bound="CostBucketView")


@_attrs_define
class CostBucketView:
    """One bucket of a cost history.

    Attributes:
        by_cluster (CostBucketViewByCluster): By cluster (those that cost something), settled and provisional.
        by_source (CostBucketViewBySource): By where the settled figures came from: `model` (the blueprint's
            cost model) or `cost_explorer` (AWS).
        end (datetime.datetime):
        provisional (str): An exact amount of US dollars, as a decimal string.
        start (datetime.datetime):
        total (str): An exact amount of US dollars, as a decimal string.
    """

    by_cluster: CostBucketViewByCluster
    by_source: CostBucketViewBySource
    end: datetime.datetime
    provisional: str
    start: datetime.datetime
    total: str
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        by_cluster = self.by_cluster.to_dict()

        by_source = self.by_source.to_dict()

        end = self.end.isoformat()

        provisional = self.provisional

        start = self.start.isoformat()

        total = self.total

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "by_cluster": by_cluster,
                "by_source": by_source,
                "end": end,
                "provisional": provisional,
                "start": start,
                "total": total,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.cost_bucket_view_by_cluster import CostBucketViewByCluster
        from ..models.cost_bucket_view_by_source import CostBucketViewBySource

        d = dict(src_dict)
        by_cluster = CostBucketViewByCluster.from_dict(d.pop("by_cluster"))

        by_source = CostBucketViewBySource.from_dict(d.pop("by_source"))

        end = isoparse(d.pop("end"))

        provisional = d.pop("provisional")

        start = isoparse(d.pop("start"))

        total = d.pop("total")

        cost_bucket_view = cls(
            by_cluster=by_cluster,
            by_source=by_source,
            end=end,
            provisional=provisional,
            start=start,
            total=total,
        )

        cost_bucket_view.additional_properties = d
        return cost_bucket_view

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
