from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define
from dateutil.parser import isoparse

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.deploy_cluster_variables_patch_type_0 import (
        DeployClusterVariablesPatchType0,
    )
    from ..models.deploy_cluster_variables_type_0 import DeployClusterVariablesType0


T = TypeVar("T", bound="DeployCluster")


@_attrs_define
class DeployCluster:
    """`POST /v1/clusters/{name}/deploy`

    Attributes:
        destroy_at (datetime.datetime | None | Unset): Destroy at this time (RFC 3339). Exclusive with `ttl`.
        nodes (int | None | Unset):
        ttl (None | str | Unset): Destroy this long after the request (`90s`, `10m`, `2h`).
        variables (DeployClusterVariablesType0 | None | Unset): Replaces the cluster's user variables.
        variables_patch (DeployClusterVariablesPatchType0 | None | Unset): Changes some of the cluster's user variables,
            as a JSON merge patch
            (RFC 7386): a value sets one, `null` returns one to its default, one
            not named keeps its value. Exclusive with `variables`.
        version (None | str | Unset):
    """

    destroy_at: datetime.datetime | None | Unset = UNSET
    nodes: int | None | Unset = UNSET
    ttl: None | str | Unset = UNSET
    variables: DeployClusterVariablesType0 | None | Unset = UNSET
    variables_patch: DeployClusterVariablesPatchType0 | None | Unset = UNSET
    version: None | str | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        from ..models.deploy_cluster_variables_patch_type_0 import (
            DeployClusterVariablesPatchType0,
        )
        from ..models.deploy_cluster_variables_type_0 import DeployClusterVariablesType0

        destroy_at: None | str | Unset
        if isinstance(self.destroy_at, Unset):
            destroy_at = UNSET
        elif isinstance(self.destroy_at, datetime.datetime):
            destroy_at = self.destroy_at.isoformat()
        else:
            destroy_at = self.destroy_at

        nodes: int | None | Unset
        if isinstance(self.nodes, Unset):
            nodes = UNSET
        else:
            nodes = self.nodes

        ttl: None | str | Unset
        if isinstance(self.ttl, Unset):
            ttl = UNSET
        else:
            ttl = self.ttl

        variables: dict[str, Any] | None | Unset
        if isinstance(self.variables, Unset):
            variables = UNSET
        elif isinstance(self.variables, DeployClusterVariablesType0):
            variables = self.variables.to_dict()
        else:
            variables = self.variables

        variables_patch: dict[str, Any] | None | Unset
        if isinstance(self.variables_patch, Unset):
            variables_patch = UNSET
        elif isinstance(self.variables_patch, DeployClusterVariablesPatchType0):
            variables_patch = self.variables_patch.to_dict()
        else:
            variables_patch = self.variables_patch

        version: None | str | Unset
        if isinstance(self.version, Unset):
            version = UNSET
        else:
            version = self.version

        field_dict: dict[str, Any] = {}

        field_dict.update({})
        if destroy_at is not UNSET:
            field_dict["destroy_at"] = destroy_at
        if nodes is not UNSET:
            field_dict["nodes"] = nodes
        if ttl is not UNSET:
            field_dict["ttl"] = ttl
        if variables is not UNSET:
            field_dict["variables"] = variables
        if variables_patch is not UNSET:
            field_dict["variables_patch"] = variables_patch
        if version is not UNSET:
            field_dict["version"] = version

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.deploy_cluster_variables_patch_type_0 import (
            DeployClusterVariablesPatchType0,
        )
        from ..models.deploy_cluster_variables_type_0 import DeployClusterVariablesType0

        d = dict(src_dict)

        def _parse_destroy_at(data: object) -> datetime.datetime | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                destroy_at_type_0 = isoparse(data)

                return destroy_at_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None | Unset, data)

        destroy_at = _parse_destroy_at(d.pop("destroy_at", UNSET))

        def _parse_nodes(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        nodes = _parse_nodes(d.pop("nodes", UNSET))

        def _parse_ttl(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        ttl = _parse_ttl(d.pop("ttl", UNSET))

        def _parse_variables(
            data: object,
        ) -> DeployClusterVariablesType0 | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                variables_type_0 = DeployClusterVariablesType0.from_dict(data)

                return variables_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(DeployClusterVariablesType0 | None | Unset, data)

        variables = _parse_variables(d.pop("variables", UNSET))

        def _parse_variables_patch(
            data: object,
        ) -> DeployClusterVariablesPatchType0 | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                variables_patch_type_0 = DeployClusterVariablesPatchType0.from_dict(
                    data
                )

                return variables_patch_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(DeployClusterVariablesPatchType0 | None | Unset, data)

        variables_patch = _parse_variables_patch(d.pop("variables_patch", UNSET))

        def _parse_version(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        version = _parse_version(d.pop("version", UNSET))

        deploy_cluster = cls(
            destroy_at=destroy_at,
            nodes=nodes,
            ttl=ttl,
            variables=variables,
            variables_patch=variables_patch,
            version=version,
        )

        return deploy_cluster
