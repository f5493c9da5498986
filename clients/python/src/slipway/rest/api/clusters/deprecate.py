from http import HTTPStatus
from typing import Any
from urllib.parse import quote

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.blueprint_view import BlueprintView
from ...models.deprecate_blueprint import DeprecateBlueprint
from ...models.error_body import ErrorBody
from ...types import Response


def _get_kwargs(
    name: str,
    version: str,
    *,
    body: DeprecateBlueprint,
) -> dict[str, Any]:
    headers: dict[str, Any] = {}

    _kwargs: dict[str, Any] = {
        "method": "post",
        "url": "/v1/blueprints/{name}/versions/{version}/deprecate".format(
            name=quote(str(name), safe=""),
            version=quote(str(version), safe=""),
        ),
    }

    _kwargs["json"] = body.to_dict()

    headers["Content-Type"] = "application/json"

    _kwargs["headers"] = headers
    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> BlueprintView | ErrorBody | None:
    if response.status_code == 200:
        response_200 = BlueprintView.from_dict(response.json())

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
) -> Response[BlueprintView | ErrorBody]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    name: str,
    version: str,
    *,
    client: AuthenticatedClient,
    body: DeprecateBlueprint,
) -> Response[BlueprintView | ErrorBody]:
    """DEPRECATE a version (administrators): no new cluster runs it; the ones
    that do keep running and are destroyed as ever.

    Args:
        name (str):
        version (str):
        body (DeprecateBlueprint): `POST /v1/blueprints/{name}/versions/{version}/deprecate`

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[BlueprintView | ErrorBody]
    """

    kwargs = _get_kwargs(
        name=name,
        version=version,
        body=body,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    name: str,
    version: str,
    *,
    client: AuthenticatedClient,
    body: DeprecateBlueprint,
) -> BlueprintView | ErrorBody | None:
    """DEPRECATE a version (administrators): no new cluster runs it; the ones
    that do keep running and are destroyed as ever.

    Args:
        name (str):
        version (str):
        body (DeprecateBlueprint): `POST /v1/blueprints/{name}/versions/{version}/deprecate`

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        BlueprintView | ErrorBody
    """

    return sync_detailed(
        name=name,
        version=version,
        client=client,
        body=body,
    ).parsed


async def asyncio_detailed(
    name: str,
    version: str,
    *,
    client: AuthenticatedClient,
    body: DeprecateBlueprint,
) -> Response[BlueprintView | ErrorBody]:
    """DEPRECATE a version (administrators): no new cluster runs it; the ones
    that do keep running and are destroyed as ever.

    Args:
        name (str):
        version (str):
        body (DeprecateBlueprint): `POST /v1/blueprints/{name}/versions/{version}/deprecate`

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[BlueprintView | ErrorBody]
    """

    kwargs = _get_kwargs(
        name=name,
        version=version,
        body=body,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    name: str,
    version: str,
    *,
    client: AuthenticatedClient,
    body: DeprecateBlueprint,
) -> BlueprintView | ErrorBody | None:
    """DEPRECATE a version (administrators): no new cluster runs it; the ones
    that do keep running and are destroyed as ever.

    Args:
        name (str):
        version (str):
        body (DeprecateBlueprint): `POST /v1/blueprints/{name}/versions/{version}/deprecate`

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        BlueprintView | ErrorBody
    """

    return (
        await asyncio_detailed(
            name=name,
            version=version,
            client=client,
            body=body,
        )
    ).parsed
