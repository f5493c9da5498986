from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field
from dateutil.parser import isoparse

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.cost_bucket_view import CostBucketView
    from ..models.cost_stats import CostStats


T = TypeVar("T", bound="CostHistory")


@_attrs_define
class CostHistory:
    """`GET /v1/orgs/{name}/costs`: cost history by bucket.

    Attributes:
        buckets (list[CostBucketView]):
        currency (str):
        from_ (datetime.datetime):
        granularity (str): `hourly`, `daily` or `monthly`.
        organization (str):
        provisional (str): An exact amount of US dollars, as a decimal string.
        stats (CostStats): Statistics of a series of amounts.
        to (datetime.datetime):
        total (str): An exact amount of US dollars, as a decimal string.
        cluster (None | str | Unset):
        settled_at (datetime.datetime | None | Unset): Until when costs are settled (absent: never yet); what ran since
            is
            provisional.
    """

    buckets: list[CostBucketView]
    currency: str
    from_: datetime.datetime
    granularity: str
    organization: str
    provisional: str
    stats: CostStats
    to: datetime.datetime
    total: str
    cluster: None | str | Unset = UNSET
    settled_at: datetime.datetime | None | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        buckets = []
        for buckets_item_data in self.buckets:
            buckets_item = buckets_item_data.to_dict()
            buckets.append(buckets_item)

        currency = self.currency

        from_ = self.from_.isoformat()

        granularity = self.granularity

        organization = self.organization

        provisional = self.provisional

        stats = self.stats.to_dict()

        to = self.to.isoformat()

        total = self.total

        cluster: None | str | Unset
        if isinstance(self.cluster, Unset):
            cluster = UNSET
        else:
            cluster = self.cluster

        settled_at: None | str | Unset
        if isinstance(self.settled_at, Unset):
            settled_at = UNSET
        elif isinstance(self.settled_at, datetime.datetime):
            settled_at = self.settled_at.isoformat()
        else:
            settled_at = self.settled_at

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "buckets": buckets,
                "currency": currency,
                "from": from_,
                "granularity": granularity,
                "organization": organization,
                "provisional": provisional,
                "stats": stats,
                "to": to,
                "total": total,
            }
        )
        if cluster is not UNSET:
            field_dict["cluster"] = cluster
        if settled_at is not UNSET:
            field_dict["settled_at"] = settled_at

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.cost_bucket_view import CostBucketView
        from ..models.cost_stats import CostStats

        d = dict(src_dict)
        buckets = []
        _buckets = d.pop("buckets")
        for buckets_item_data in _buckets:
            buckets_item = CostBucketView.from_dict(buckets_item_data)

            buckets.append(buckets_item)

        currency = d.pop("currency")

        from_ = isoparse(d.pop("from"))

        granularity = d.pop("granularity")

        organization = d.pop("organization")

        provisional = d.pop("provisional")

        stats = CostStats.from_dict(d.pop("stats"))

        to = isoparse(d.pop("to"))

        total = d.pop("total")

        def _parse_cluster(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        cluster = _parse_cluster(d.pop("cluster", UNSET))

        def _parse_settled_at(data: object) -> datetime.datetime | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                settled_at_type_0 = isoparse(data)

                return settled_at_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None | Unset, data)

        settled_at = _parse_settled_at(d.pop("settled_at", UNSET))

        cost_history = cls(
            buckets=buckets,
            currency=currency,
            from_=from_,
            granularity=granularity,
            organization=organization,
            provisional=provisional,
            stats=stats,
            to=to,
            total=total,
            cluster=cluster,
            settled_at=settled_at,
        )

        cost_history.additional_properties = d
        return cost_history

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
