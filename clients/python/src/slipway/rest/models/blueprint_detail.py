from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

if TYPE_CHECKING:
    from ..models.blueprint_view import BlueprintView
    from ..models.node_range import NodeRange
    from ..models.variable_view import VariableView


T = TypeVar("T", bound="BlueprintDetail")


@_attrs_define
class BlueprintDetail:
    """`GET /v1/blueprints/{name}/versions/{version}`: one version, with what a
    cluster of it takes.

        Attributes:
            blueprint (BlueprintView): A blueprint version.
            files (list[str]): The module's files.
            nodes (NodeRange): How many nodes a cluster may have.
            providers (list[str]): The providers its dependency lock file pins (`SOURCE VERSION`): what
                every run of it installs.
            variables (list[VariableView]): The variables a cluster of it takes, by name.
    """

    blueprint: BlueprintView
    files: list[str]
    nodes: NodeRange
    providers: list[str]
    variables: list[VariableView]
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        blueprint = self.blueprint.to_dict()

        files = self.files

        nodes = self.nodes.to_dict()

        providers = self.providers

        variables = []
        for variables_item_data in self.variables:
            variables_item = variables_item_data.to_dict()
            variables.append(variables_item)

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "blueprint": blueprint,
                "files": files,
                "nodes": nodes,
                "providers": providers,
                "variables": variables,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.blueprint_view import BlueprintView
        from ..models.node_range import NodeRange
        from ..models.variable_view import VariableView

        d = dict(src_dict)
        blueprint = BlueprintView.from_dict(d.pop("blueprint"))

        files = cast(list[str], d.pop("files"))

        nodes = NodeRange.from_dict(d.pop("nodes"))

        providers = cast(list[str], d.pop("providers"))

        variables = []
        _variables = d.pop("variables")
        for variables_item_data in _variables:
            variables_item = VariableView.from_dict(variables_item_data)

            variables.append(variables_item)

        blueprint_detail = cls(
            blueprint=blueprint,
            files=files,
            nodes=nodes,
            providers=providers,
            variables=variables,
        )

        blueprint_detail.additional_properties = d
        return blueprint_detail

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
