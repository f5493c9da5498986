from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.desired_deployment_variables import DesiredDeploymentVariables
    from ..models.secrets_file_body import SecretsFileBody


T = TypeVar("T", bound="DesiredDeployment")


@_attrs_define
class DesiredDeployment:
    """`PUT /v1/deployments/{deployment}/environments/{environment}`: what a
    repository asks the deployment's cluster in that environment to be
    (`slipway apply` renders it from the repository's layers).

        Attributes:
            blueprint (str):
            organization (str): The organization that owns the cluster.
            version (str): A version, or `latest`.
            commit (None | str | Unset): The repository's commit, recorded with the apply.
            common_digest (None | str | Unset): The digest of what the repository's environments share (the
                deployment file, the root and common layers): recorded with the
                apply, and what a later environment is checked against.
            digest (None | str | Unset): The digest of everything the repository gives this cluster (its
                layers, the secrets file's bytes), recorded with the apply: while
                the cluster runs as applied, an apply with the same digest has
                nothing to send (`EnvironmentView::in_sync`).
            dry_run (bool | Unset): Only say what would change.
            nodes (int | None | Unset): Default: the blueprint's.
            override_reason (None | str | Unset): An administrator applying despite `requires`, saying why (audited).
            plan (bool | Unset): With `dry_run`, for a cluster that exists and would change: also
                queue Terraform's plan of the change (an operation of kind `plan`,
                answered in `operation`; its result holds the resource changes).
            prune (bool | Unset): Marked `prune` in the repository: recorded with the apply, so that
                the apply that no longer finds the deployment destroys its cluster.
            public (bool | Unset):
            requires (None | str | Unset): The environment this one comes after (`staging` for `prod`): the
                apply is refused unless that environment's cluster was applied the
                same version and common digest and its tests passed since.
            secrets (None | SecretsFileBody | Unset):
            ttl (None | str | Unset): An ephemeral deployment's time to live (`8h`): each apply that
                changes the cluster schedules its destroy that long after. Without
                one the deployment is persistent.
            variables (DesiredDeploymentVariables | Unset): The layers' variables (never a sensitive one: those come in
                `secrets`).
    """

    blueprint: str
    organization: str
    version: str
    commit: None | str | Unset = UNSET
    common_digest: None | str | Unset = UNSET
    digest: None | str | Unset = UNSET
    dry_run: bool | Unset = UNSET
    nodes: int | None | Unset = UNSET
    override_reason: None | str | Unset = UNSET
    plan: bool | Unset = UNSET
    prune: bool | Unset = UNSET
    public: bool | Unset = UNSET
    requires: None | str | Unset = UNSET
    secrets: None | SecretsFileBody | Unset = UNSET
    ttl: None | str | Unset = UNSET
    variables: DesiredDeploymentVariables | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        from ..models.secrets_file_body import SecretsFileBody

        blueprint = self.blueprint

        organization = self.organization

        version = self.version

        commit: None | str | Unset
        if isinstance(self.commit, Unset):
            commit = UNSET
        else:
            commit = self.commit

        common_digest: None | str | Unset
        if isinstance(self.common_digest, Unset):
            common_digest = UNSET
        else:
            common_digest = self.common_digest

        digest: None | str | Unset
        if isinstance(self.digest, Unset):
            digest = UNSET
        else:
            digest = self.digest

        dry_run = self.dry_run

        nodes: int | None | Unset
        if isinstance(self.nodes, Unset):
            nodes = UNSET
        else:
            nodes = self.nodes

        override_reason: None | str | Unset
        if isinstance(self.override_reason, Unset):
            override_reason = UNSET
        else:
            override_reason = self.override_reason

        plan = self.plan

        prune = self.prune

        public = self.public

        requires: None | str | Unset
        if isinstance(self.requires, Unset):
            requires = UNSET
        else:
            requires = self.requires

        secrets: dict[str, Any] | None | Unset
        if isinstance(self.secrets, Unset):
            secrets = UNSET
        elif isinstance(self.secrets, SecretsFileBody):
            secrets = self.secrets.to_dict()
        else:
            secrets = self.secrets

        ttl: None | str | Unset
        if isinstance(self.ttl, Unset):
            ttl = UNSET
        else:
            ttl = self.ttl

        variables: dict[str, Any] | Unset = UNSET
        if not isinstance(self.variables, Unset):
            variables = self.variables.to_dict()

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "blueprint": blueprint,
                "organization": organization,
                "version": version,
            }
        )
        if commit is not UNSET:
            field_dict["commit"] = commit
        if common_digest is not UNSET:
            field_dict["common_digest"] = common_digest
        if digest is not UNSET:
            field_dict["digest"] = digest
        if dry_run is not UNSET:
            field_dict["dry_run"] = dry_run
        if nodes is not UNSET:
            field_dict["nodes"] = nodes
        if override_reason is not UNSET:
            field_dict["override_reason"] = override_reason
        if plan is not UNSET:
            field_dict["plan"] = plan
        if prune is not UNSET:
            field_dict["prune"] = prune
        if public is not UNSET:
            field_dict["public"] = public
        if requires is not UNSET:
            field_dict["requires"] = requires
        if secrets is not UNSET:
            field_dict["secrets"] = secrets
        if ttl is not UNSET:
            field_dict["ttl"] = ttl
        if variables is not UNSET:
            field_dict["variables"] = variables

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.desired_deployment_variables import DesiredDeploymentVariables
        from ..models.secrets_file_body import SecretsFileBody

        d = dict(src_dict)
        blueprint = d.pop("blueprint")

        organization = d.pop("organization")

        version = d.pop("version")

        def _parse_commit(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        commit = _parse_commit(d.pop("commit", UNSET))

        def _parse_common_digest(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        common_digest = _parse_common_digest(d.pop("common_digest", UNSET))

        def _parse_digest(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        digest = _parse_digest(d.pop("digest", UNSET))

        dry_run = d.pop("dry_run", UNSET)

        def _parse_nodes(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        nodes = _parse_nodes(d.pop("nodes", UNSET))

        def _parse_override_reason(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        override_reason = _parse_override_reason(d.pop("override_reason", UNSET))

        plan = d.pop("plan", UNSET)

        prune = d.pop("prune", UNSET)

        public = d.pop("public", UNSET)

        def _parse_requires(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        requires = _parse_requires(d.pop("requires", UNSET))

        def _parse_secrets(data: object) -> None | SecretsFileBody | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                secrets_type_1 = SecretsFileBody.from_dict(data)

                return secrets_type_1
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | SecretsFileBody | Unset, data)

        secrets = _parse_secrets(d.pop("secrets", UNSET))

        def _parse_ttl(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        ttl = _parse_ttl(d.pop("ttl", UNSET))

        _variables = d.pop("variables", UNSET)
        variables: DesiredDeploymentVariables | Unset
        if isinstance(_variables, Unset):
            variables = UNSET
        else:
            variables = DesiredDeploymentVariables.from_dict(_variables)

        desired_deployment = cls(
            blueprint=blueprint,
            organization=organization,
            version=version,
            commit=commit,
            common_digest=common_digest,
            digest=digest,
            dry_run=dry_run,
            nodes=nodes,
            override_reason=override_reason,
            plan=plan,
            prune=prune,
            public=public,
            requires=requires,
            secrets=secrets,
            ttl=ttl,
            variables=variables,
        )

        return desired_deployment
