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
    from ..models.promotion_view import PromotionView
    from ..models.proposal_view import ProposalView


T = TypeVar("T", bound="EnvironmentView")


@_attrs_define
class EnvironmentView:
    """A deployment in one environment: its cluster and its last apply.

    Attributes:
        applied_at (datetime.datetime):
        applied_by (str): Who applied it (a subject).
        cluster (str):
        common_digest (str): What environments share: equal in two environments, the same change.
        digest (str): The repository's digest of what it gave the cluster at that apply.
        drift (list[str]): What the last drift check found changed outside Slipway (empty:
            nothing).
        environment (str):
        in_sync (bool): The cluster is still asked what that apply asked, runs it (no drift)
            and has nothing in flight: the same digest needs no apply.
        nodes (int):
        organization (str):
        protected (bool):
        prune (bool): Destroyed when the repository no longer declares it.
        state (ClusterState): Where a cluster is in its life.

            `absent` → `deploying` → `running` | `failed`; `running` → `updating` →
            `running` | `failed`; `running` | `failed` → `destroying` → `absent` |
            `failed`. A `failed` cluster keeps its error; deploy or destroy may be
            retried.
        version (str): What the last apply gave it.
        commit (None | str | Unset):
        promotion (None | PromotionView | Unset):
        proposal (None | ProposalView | Unset):
        tested (bool | None | Unset): Whether the latest TEST run since the apply passed (none yet: null).
    """

    applied_at: datetime.datetime
    applied_by: str
    cluster: str
    common_digest: str
    digest: str
    drift: list[str]
    environment: str
    in_sync: bool
    nodes: int
    organization: str
    protected: bool
    prune: bool
    state: ClusterState
    version: str
    commit: None | str | Unset = UNSET
    promotion: None | PromotionView | Unset = UNSET
    proposal: None | ProposalView | Unset = UNSET
    tested: bool | None | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        from ..models.promotion_view import PromotionView
        from ..models.proposal_view import ProposalView

        applied_at = self.applied_at.isoformat()

        applied_by = self.applied_by

        cluster = self.cluster

        common_digest = self.common_digest

        digest = self.digest

        drift = self.drift

        environment = self.environment

        in_sync = self.in_sync

        nodes = self.nodes

        organization = self.organization

        protected = self.protected

        prune = self.prune

        state = self.state.value

        version = self.version

        commit: None | str | Unset
        if isinstance(self.commit, Unset):
            commit = UNSET
        else:
            commit = self.commit

        promotion: dict[str, Any] | None | Unset
        if isinstance(self.promotion, Unset):
            promotion = UNSET
        elif isinstance(self.promotion, PromotionView):
            promotion = self.promotion.to_dict()
        else:
            promotion = self.promotion

        proposal: dict[str, Any] | None | Unset
        if isinstance(self.proposal, Unset):
            proposal = UNSET
        elif isinstance(self.proposal, ProposalView):
            proposal = self.proposal.to_dict()
        else:
            proposal = self.proposal

        tested: bool | None | Unset
        if isinstance(self.tested, Unset):
            tested = UNSET
        else:
            tested = self.tested

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "applied_at": applied_at,
                "applied_by": applied_by,
                "cluster": cluster,
                "common_digest": common_digest,
                "digest": digest,
                "drift": drift,
                "environment": environment,
                "in_sync": in_sync,
                "nodes": nodes,
                "organization": organization,
                "protected": protected,
                "prune": prune,
                "state": state,
                "version": version,
            }
        )
        if commit is not UNSET:
            field_dict["commit"] = commit
        if promotion is not UNSET:
            field_dict["promotion"] = promotion
        if proposal is not UNSET:
            field_dict["proposal"] = proposal
        if tested is not UNSET:
            field_dict["tested"] = tested

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.promotion_view import PromotionView
        from ..models.proposal_view import ProposalView

        d = dict(src_dict)
        applied_at = isoparse(d.pop("applied_at"))

        applied_by = d.pop("applied_by")

        cluster = d.pop("cluster")

        common_digest = d.pop("common_digest")

        digest = d.pop("digest")

        drift = cast(list[str], d.pop("drift"))

        environment = d.pop("environment")

        in_sync = d.pop("in_sync")

        nodes = d.pop("nodes")

        organization = d.pop("organization")

        protected = d.pop("protected")

        prune = d.pop("prune")

        state = ClusterState(d.pop("state"))

        version = d.pop("version")

        def _parse_commit(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        commit = _parse_commit(d.pop("commit", UNSET))

        def _parse_promotion(data: object) -> None | PromotionView | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                promotion_type_1 = PromotionView.from_dict(data)

                return promotion_type_1
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | PromotionView | Unset, data)

        promotion = _parse_promotion(d.pop("promotion", UNSET))

        def _parse_proposal(data: object) -> None | ProposalView | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                proposal_type_1 = ProposalView.from_dict(data)

                return proposal_type_1
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | ProposalView | Unset, data)

        proposal = _parse_proposal(d.pop("proposal", UNSET))

        def _parse_tested(data: object) -> bool | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(bool | None | Unset, data)

        tested = _parse_tested(d.pop("tested", UNSET))

        environment_view = cls(
            applied_at=applied_at,
            applied_by=applied_by,
            cluster=cluster,
            common_digest=common_digest,
            digest=digest,
            drift=drift,
            environment=environment,
            in_sync=in_sync,
            nodes=nodes,
            organization=organization,
            protected=protected,
            prune=prune,
            state=state,
            version=version,
            commit=commit,
            promotion=promotion,
            proposal=proposal,
            tested=tested,
        )

        environment_view.additional_properties = d
        return environment_view

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
