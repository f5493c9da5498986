from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.create_cluster_variables import CreateClusterVariables


T = TypeVar("T", bound="CreateCluster")


@_attrs_define
class CreateCluster:
    """`POST /v1/clusters`

    Attributes:
        blueprint (str):
        name (str): `[a-z0-9][a-z0-9-]{0,39}`, unique site-wide.
        nodes (int | None | Unset): Default: the blueprint's default.
        organization (None | str | Unset): The owning organization (default `default`).
        public (bool | Unset):
        variables (CreateClusterVariables | Unset):
        version (None | str | Unset): A blueprint version, or `latest` (the default).
    """

    blueprint: str
    name: str
    nodes: int | None | Unset = UNSET
    organization: None | str | Unset = UNSET
    public: bool | Unset = UNSET
    variables: CreateClusterVariables | Unset = UNSET
    version: None | str | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        blueprint = self.blueprint

        name = self.name

        nodes: int | None | Unset
        if isinstance(self.nodes, Unset):
            nodes = UNSET
        else:
            nodes = self.nodes

        organization: None | str | Unset
        if isinstance(self.organization, Unset):
            organization = UNSET
        else:
            organization = self.organization

        public = self.public

        variables: dict[str, Any] | Unset = UNSET
        if not isinstance(self.variables, Unset):
            variables = self.variables.to_dict()

        version: None | str | Unset
        if isinstance(self.version, Unset):
            version = UNSET
        else:
            version = self.version

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "blueprint": blueprint,
                "name": name,
            }
        )
        if nodes is not UNSET:
            field_dict["nodes"] = nodes
        if organization is not UNSET:
            field_dict["organization"] = organization
        if public is not UNSET:
            field_dict["public"] = public
        if variables is not UNSET:
            field_dict["variables"] = variables
        if version is not UNSET:
            field_dict["version"] = version

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.create_cluster_variables import CreateClusterVariables

        d = dict(src_dict)
        blueprint = d.pop("blueprint")

        name = d.pop("name")

        def _parse_nodes(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        nodes = _parse_nodes(d.pop("nodes", UNSET))

        def _parse_organization(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        organization = _parse_organization(d.pop("organization", UNSET))

        public = d.pop("public", UNSET)

        _variables = d.pop("variables", UNSET)
        variables: CreateClusterVariables | Unset
        if isinstance(_variables, Unset):
            variables = UNSET
        else:
            variables = CreateClusterVariables.from_dict(_variables)

        def _parse_version(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        version = _parse_version(d.pop("version", UNSET))

        create_cluster = cls(
            blueprint=blueprint,
            name=name,
            nodes=nodes,
            organization=organization,
            public=public,
            variables=variables,
            version=version,
        )

        return create_cluster
