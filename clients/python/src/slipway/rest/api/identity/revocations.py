from http import HTTPStatus
from typing import Any, cast

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.error_body import ErrorBody
from ...models.revocation_list_view import RevocationListView
from ...types import Response


def _get_kwargs() -> dict[str, Any]:

    _kwargs: dict[str, Any] = {
        "method": "get",
        "url": "/.well-known/revocations",
    }

    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> Any | ErrorBody | RevocationListView | None:
    if response.status_code == 200:
        response_200 = RevocationListView.from_dict(response.json())

        return response_200

    if response.status_code == 304:
        response_304 = cast(Any, None)
        return response_304

    if response.status_code == 503:
        response_503 = ErrorBody.from_dict(response.json())

        return response_503

    if client.raise_on_unexpected_status:
        raise errors.UnexpectedStatus(response.status_code, response.content)
    else:
        return None


def _build_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> Response[Any | ErrorBody | RevocationListView]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    *,
    client: AuthenticatedClient | Client,
) -> Response[Any | ErrorBody | RevocationListView]:
    r"""The signed list of what cluster gateways refuse — revoked token ids and
    people's cluster tokens issued before a time, not yet expired: a JWT
    (audience `slipway:revocations`, signed like every token, verified
    against the JWKS), `{\"token\": \"...\"}`. Cluster gateways poll it with
    `If-None-Match` and refuse what it lists. Signed once per change; a
    matching `If-None-Match` is answered from the cache.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Any | ErrorBody | RevocationListView]
    """

    kwargs = _get_kwargs()

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    *,
    client: AuthenticatedClient | Client,
) -> Any | ErrorBody | RevocationListView | None:
    r"""The signed list of what cluster gateways refuse — revoked token ids and
    people's cluster tokens issued before a time, not yet expired: a JWT
    (audience `slipway:revocations`, signed like every token, verified
    against the JWKS), `{\"token\": \"...\"}`. Cluster gateways poll it with
    `If-None-Match` and refuse what it lists. Signed once per change; a
    matching `If-None-Match` is answered from the cache.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Any | ErrorBody | RevocationListView
    """

    return sync_detailed(
        client=client,
    ).parsed


async def asyncio_detailed(
    *,
    client: AuthenticatedClient | Client,
) -> Response[Any | ErrorBody | RevocationListView]:
    r"""The signed list of what cluster gateways refuse — revoked token ids and
    people's cluster tokens issued before a time, not yet expired: a JWT
    (audience `slipway:revocations`, signed like every token, verified
    against the JWKS), `{\"token\": \"...\"}`. Cluster gateways poll it with
    `If-None-Match` and refuse what it lists. Signed once per change; a
    matching `If-None-Match` is answered from the cache.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Any | ErrorBody | RevocationListView]
    """

    kwargs = _get_kwargs()

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    *,
    client: AuthenticatedClient | Client,
) -> Any | ErrorBody | RevocationListView | None:
    r"""The signed list of what cluster gateways refuse — revoked token ids and
    people's cluster tokens issued before a time, not yet expired: a JWT
    (audience `slipway:revocations`, signed like every token, verified
    against the JWKS), `{\"token\": \"...\"}`. Cluster gateways poll it with
    `If-None-Match` and refuse what it lists. Signed once per change; a
    matching `If-None-Match` is answered from the cache.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Any | ErrorBody | RevocationListView
    """

    return (
        await asyncio_detailed(
            client=client,
        )
    ).parsed
