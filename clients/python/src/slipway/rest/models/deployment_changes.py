from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.deployment_action import DeploymentAction
from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.operation_view import OperationView
    from ..models.setting_change import SettingChange


T = TypeVar("T", bound="DeploymentChanges")


@_attrs_define
class DeploymentChanges:
    """What applying a deployment in an environment does (or, dry, would do).

    Attributes:
        action (DeploymentAction): What an apply does to the cluster.
        changes (list[SettingChange]): What differs from what the cluster is asked to be now; a secret by
            name only, never its value.
        cluster (str):
        operation (None | OperationView | Unset):
    """

    action: DeploymentAction
    changes: list[SettingChange]
    cluster: str
    operation: None | OperationView | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        from ..models.operation_view import OperationView

        action = self.action.value

        changes = []
        for changes_item_data in self.changes:
            changes_item = changes_item_data.to_dict()
            changes.append(changes_item)

        cluster = self.cluster

        operation: dict[str, Any] | None | Unset
        if isinstance(self.operation, Unset):
            operation = UNSET
        elif isinstance(self.operation, OperationView):
            operation = self.operation.to_dict()
        else:
            operation = self.operation

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "action": action,
                "changes": changes,
                "cluster": cluster,
            }
        )
        if operation is not UNSET:
            field_dict["operation"] = operation

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.operation_view import OperationView
        from ..models.setting_change import SettingChange

        d = dict(src_dict)
        action = DeploymentAction(d.pop("action"))

        changes = []
        _changes = d.pop("changes")
        for changes_item_data in _changes:
            changes_item = SettingChange.from_dict(changes_item_data)

            changes.append(changes_item)

        cluster = d.pop("cluster")

        def _parse_operation(data: object) -> None | OperationView | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                operation_type_1 = OperationView.from_dict(data)

                return operation_type_1
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | OperationView | Unset, data)

        operation = _parse_operation(d.pop("operation", UNSET))

        deployment_changes = cls(
            action=action,
            changes=changes,
            cluster=cluster,
            operation=operation,
        )

        deployment_changes.additional_properties = d
        return deployment_changes

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
