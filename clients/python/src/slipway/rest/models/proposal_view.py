from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field
from dateutil.parser import isoparse

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.setting_change import SettingChange


T = TypeVar("T", bound="ProposalView")


@_attrs_define
class ProposalView:
    """A change a dry run proposed (`slipway apply --dry-run`, say a pull
    request's) that nobody applied yet: what it would change, Terraform's
    plan of it, and whether it still applies as planned. Applying it
    (`POST …/proposal/apply`) makes the checks an apply makes.

        Attributes:
            changes (list[SettingChange]): What it changes (a secret by name only).
            proposed_at (datetime.datetime):
            proposed_by (str): Who proposed it (a subject).
            stale (bool): The cluster was asked to be something else since: the plan no
                longer says what applying it would do, and applying it is refused.
            commit (None | str | Unset): The repository's commit it was made from.
            plan_operation (None | str | Unset): Terraform's plan of it: an operation of kind `plan`.
    """

    changes: list[SettingChange]
    proposed_at: datetime.datetime
    proposed_by: str
    stale: bool
    commit: None | str | Unset = UNSET
    plan_operation: None | str | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        changes = []
        for changes_item_data in self.changes:
            changes_item = changes_item_data.to_dict()
            changes.append(changes_item)

        proposed_at = self.proposed_at.isoformat()

        proposed_by = self.proposed_by

        stale = self.stale

        commit: None | str | Unset
        if isinstance(self.commit, Unset):
            commit = UNSET
        else:
            commit = self.commit

        plan_operation: None | str | Unset
        if isinstance(self.plan_operation, Unset):
            plan_operation = UNSET
        else:
            plan_operation = self.plan_operation

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "changes": changes,
                "proposed_at": proposed_at,
                "proposed_by": proposed_by,
                "stale": stale,
            }
        )
        if commit is not UNSET:
            field_dict["commit"] = commit
        if plan_operation is not UNSET:
            field_dict["plan_operation"] = plan_operation

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.setting_change import SettingChange

        d = dict(src_dict)
        changes = []
        _changes = d.pop("changes")
        for changes_item_data in _changes:
            changes_item = SettingChange.from_dict(changes_item_data)

            changes.append(changes_item)

        proposed_at = isoparse(d.pop("proposed_at"))

        proposed_by = d.pop("proposed_by")

        stale = d.pop("stale")

        def _parse_commit(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        commit = _parse_commit(d.pop("commit", UNSET))

        def _parse_plan_operation(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        plan_operation = _parse_plan_operation(d.pop("plan_operation", UNSET))

        proposal_view = cls(
            changes=changes,
            proposed_at=proposed_at,
            proposed_by=proposed_by,
            stale=stale,
            commit=commit,
            plan_operation=plan_operation,
        )

        proposal_view.additional_properties = d
        return proposal_view

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
