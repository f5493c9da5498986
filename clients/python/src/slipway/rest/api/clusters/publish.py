from http import HTTPStatus
from typing import Any
from urllib.parse import quote

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.error_body import ErrorBody
from ...models.published_blueprint import PublishedBlueprint
from ...types import UNSET, File, Response, Unset


def _get_kwargs(
    name: str,
    version: str,
    *,
    body: File,
    organizations: str | Unset = UNSET,
    latest: bool | Unset = UNSET,
) -> dict[str, Any]:
    headers: dict[str, Any] = {}

    params: dict[str, Any] = {}

    params["organizations"] = organizations

    params["latest"] = latest

    params = {k: v for k, v in params.items() if v is not UNSET and v is not None}

    _kwargs: dict[str, Any] = {
        "method": "put",
        "url": "/v1/blueprints/{name}/versions/{version}".format(
            name=quote(str(name), safe=""),
            version=quote(str(version), safe=""),
        ),
        "params": params,
    }

    _kwargs["content"] = body.payload

    headers["Content-Type"] = "application/octet-stream"

    _kwargs["headers"] = headers
    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> ErrorBody | PublishedBlueprint | None:
    if response.status_code == 200:
        response_200 = PublishedBlueprint.from_dict(response.json())

        return response_200

    if response.status_code == 201:
        response_201 = PublishedBlueprint.from_dict(response.json())

        return response_201

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
) -> Response[ErrorBody | PublishedBlueprint]:
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
    body: File,
    organizations: str | Unset = UNSET,
    latest: bool | Unset = UNSET,
) -> Response[ErrorBody | PublishedBlueprint]:
    """PUBLISH a blueprint version (administrators): checked as `slipway
    blueprint check` checks it, then stored immutably for every replica and
    worker. 201 when new; 200 when this very content was published before;
    409 `version_exists` when the version holds other content.

    Args:
        name (str):
        version (str):
        organizations (str | Unset):
        latest (bool | Unset):
        body (File): The body of a publish, as the document describes it: bytes.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ErrorBody | PublishedBlueprint]
    """

    kwargs = _get_kwargs(
        name=name,
        version=version,
        body=body,
        organizations=organizations,
        latest=latest,
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
    body: File,
    organizations: str | Unset = UNSET,
    latest: bool | Unset = UNSET,
) -> ErrorBody | PublishedBlueprint | None:
    """PUBLISH a blueprint version (administrators): checked as `slipway
    blueprint check` checks it, then stored immutably for every replica and
    worker. 201 when new; 200 when this very content was published before;
    409 `version_exists` when the version holds other content.

    Args:
        name (str):
        version (str):
        organizations (str | Unset):
        latest (bool | Unset):
        body (File): The body of a publish, as the document describes it: bytes.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ErrorBody | PublishedBlueprint
    """

    return sync_detailed(
        name=name,
        version=version,
        client=client,
        body=body,
        organizations=organizations,
        latest=latest,
    ).parsed


async def asyncio_detailed(
    name: str,
    version: str,
    *,
    client: AuthenticatedClient,
    body: File,
    organizations: str | Unset = UNSET,
    latest: bool | Unset = UNSET,
) -> Response[ErrorBody | PublishedBlueprint]:
    """PUBLISH a blueprint version (administrators): checked as `slipway
    blueprint check` checks it, then stored immutably for every replica and
    worker. 201 when new; 200 when this very content was published before;
    409 `version_exists` when the version holds other content.

    Args:
        name (str):
        version (str):
        organizations (str | Unset):
        latest (bool | Unset):
        body (File): The body of a publish, as the document describes it: bytes.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ErrorBody | PublishedBlueprint]
    """

    kwargs = _get_kwargs(
        name=name,
        version=version,
        body=body,
        organizations=organizations,
        latest=latest,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    name: str,
    version: str,
    *,
    client: AuthenticatedClient,
    body: File,
    organizations: str | Unset = UNSET,
    latest: bool | Unset = UNSET,
) -> ErrorBody | PublishedBlueprint | None:
    """PUBLISH a blueprint version (administrators): checked as `slipway
    blueprint check` checks it, then stored immutably for every replica and
    worker. 201 when new; 200 when this very content was published before;
    409 `version_exists` when the version holds other content.

    Args:
        name (str):
        version (str):
        organizations (str | Unset):
        latest (bool | Unset):
        body (File): The body of a publish, as the document describes it: bytes.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ErrorBody | PublishedBlueprint
    """

    return (
        await asyncio_detailed(
            name=name,
            version=version,
            client=client,
            body=body,
            organizations=organizations,
            latest=latest,
        )
    ).parsed
