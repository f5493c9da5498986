from http import HTTPStatus
from typing import Any
from urllib.parse import quote

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.deployment_changes import DeploymentChanges
from ...models.desired_deployment import DesiredDeployment
from ...models.error_body import ErrorBody
from ...types import Response


def _get_kwargs(
    deployment: str,
    environment: str,
    *,
    body: DesiredDeployment,
) -> dict[str, Any]:
    headers: dict[str, Any] = {}

    _kwargs: dict[str, Any] = {
        "method": "put",
        "url": "/v1/deployments/{deployment}/environments/{environment}".format(
            deployment=quote(str(deployment), safe=""),
            environment=quote(str(environment), safe=""),
        ),
    }

    _kwargs["json"] = body.to_dict()

    headers["Content-Type"] = "application/json"

    _kwargs["headers"] = headers
    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> DeploymentChanges | ErrorBody | None:
    if response.status_code == 200:
        response_200 = DeploymentChanges.from_dict(response.json())

        return response_200

    if response.status_code == 400:
        response_400 = ErrorBody.from_dict(response.json())

        return response_400

    if response.status_code == 401:
        response_401 = ErrorBody.from_dict(response.json())

        return response_401

    if response.status_code == 403:
        response_403 = ErrorBody.from_dict(response.json())

        return response_403

    if response.status_code == 404:
        response_404 = ErrorBody.from_dict(response.json())

        return response_404

    if response.status_code == 408:
        response_408 = ErrorBody.from_dict(response.json())

        return response_408

    if response.status_code == 409:
        response_409 = ErrorBody.from_dict(response.json())

        return response_409

    if response.status_code == 413:
        response_413 = ErrorBody.from_dict(response.json())

        return response_413

    if response.status_code == 415:
        response_415 = ErrorBody.from_dict(response.json())

        return response_415

    if response.status_code == 422:
        response_422 = ErrorBody.from_dict(response.json())

        return response_422

    if response.status_code == 429:
        response_429 = ErrorBody.from_dict(response.json())

        return response_429

    if response.status_code == 503:
        response_503 = ErrorBody.from_dict(response.json())

        return response_503

    if client.raise_on_unexpected_status:
        raise errors.UnexpectedStatus(response.status_code, response.content)
    else:
        return None


def _build_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> Response[DeploymentChanges | ErrorBody]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    deployment: str,
    environment: str,
    *,
    client: AuthenticatedClient,
    body: DesiredDeployment,
) -> Response[DeploymentChanges | ErrorBody]:
    """APPLY: what the repository asks the deployment's cluster in the
    environment (`<deployment>-<environment>`) to be. Answers what differs
    from what the cluster is asked to be now (a secret by name only) and,
    unless `dry_run`, the operation that applies it — through the ordinary
    define and deploy, under the same rules.

    Args:
        deployment (str):
        environment (str):
        body (DesiredDeployment): `PUT /v1/deployments/{deployment}/environments/{environment}`:
            what a
            repository asks the deployment's cluster in that environment to be
            (`slipway apply` renders it from the repository's layers).

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[DeploymentChanges | ErrorBody]
    """

    kwargs = _get_kwargs(
        deployment=deployment,
        environment=environment,
        body=body,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    deployment: str,
    environment: str,
    *,
    client: AuthenticatedClient,
    body: DesiredDeployment,
) -> DeploymentChanges | ErrorBody | None:
    """APPLY: what the repository asks the deployment's cluster in the
    environment (`<deployment>-<environment>`) to be. Answers what differs
    from what the cluster is asked to be now (a secret by name only) and,
    unless `dry_run`, the operation that applies it — through the ordinary
    define and deploy, under the same rules.

    Args:
        deployment (str):
        environment (str):
        body (DesiredDeployment): `PUT /v1/deployments/{deployment}/environments/{environment}`:
            what a
            repository asks the deployment's cluster in that environment to be
            (`slipway apply` renders it from the repository's layers).

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        DeploymentChanges | ErrorBody
    """

    return sync_detailed(
        deployment=deployment,
        environment=environment,
        client=client,
        body=body,
    ).parsed


async def asyncio_detailed(
    deployment: str,
    environment: str,
    *,
    client: AuthenticatedClient,
    body: DesiredDeployment,
) -> Response[DeploymentChanges | ErrorBody]:
    """APPLY: what the repository asks the deployment's cluster in the
    environment (`<deployment>-<environment>`) to be. Answers what differs
    from what the cluster is asked to be now (a secret by name only) and,
    unless `dry_run`, the operation that applies it — through the ordinary
    define and deploy, under the same rules.

    Args:
        deployment (str):
        environment (str):
        body (DesiredDeployment): `PUT /v1/deployments/{deployment}/environments/{environment}`:
            what a
            repository asks the deployment's cluster in that environment to be
            (`slipway apply` renders it from the repository's layers).

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[DeploymentChanges | ErrorBody]
    """

    kwargs = _get_kwargs(
        deployment=deployment,
        environment=environment,
        body=body,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    deployment: str,
    environment: str,
    *,
    client: AuthenticatedClient,
    body: DesiredDeployment,
) -> DeploymentChanges | ErrorBody | None:
    """APPLY: what the repository asks the deployment's cluster in the
    environment (`<deployment>-<environment>`) to be. Answers what differs
    from what the cluster is asked to be now (a secret by name only) and,
    unless `dry_run`, the operation that applies it — through the ordinary
    define and deploy, under the same rules.

    Args:
        deployment (str):
        environment (str):
        body (DesiredDeployment): `PUT /v1/deployments/{deployment}/environments/{environment}`:
            what a
            repository asks the deployment's cluster in that environment to be
            (`slipway apply` renders it from the repository's layers).

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        DeploymentChanges | ErrorBody
    """

    return (
        await asyncio_detailed(
            deployment=deployment,
            environment=environment,
            client=client,
            body=body,
        )
    ).parsed
