import datetime
from http import HTTPStatus
from typing import Any
from urllib.parse import quote

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.cost_history import CostHistory
from ...models.error_body import ErrorBody
from ...types import UNSET, Response, Unset


def _get_kwargs(
    name: str,
    *,
    granularity: str | Unset = UNSET,
    from_: datetime.datetime | Unset = UNSET,
    to: datetime.datetime | Unset = UNSET,
    cluster: str | Unset = UNSET,
) -> dict[str, Any]:

    params: dict[str, Any] = {}

    params["granularity"] = granularity

    json_from_: str | Unset = UNSET
    if not isinstance(from_, Unset):
        json_from_ = from_.isoformat()
    params["from"] = json_from_

    json_to: str | Unset = UNSET
    if not isinstance(to, Unset):
        json_to = to.isoformat()
    params["to"] = json_to

    params["cluster"] = cluster

    params = {k: v for k, v in params.items() if v is not UNSET and v is not None}

    _kwargs: dict[str, Any] = {
        "method": "get",
        "url": "/v1/orgs/{name}/costs".format(
            name=quote(str(name), safe=""),
        ),
        "params": params,
    }

    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> CostHistory | ErrorBody | None:
    if response.status_code == 200:
        response_200 = CostHistory.from_dict(response.json())

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
) -> Response[CostHistory | ErrorBody]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    name: str,
    *,
    client: AuthenticatedClient,
    granularity: str | Unset = UNSET,
    from_: datetime.datetime | Unset = UNSET,
    to: datetime.datetime | Unset = UNSET,
    cluster: str | Unset = UNSET,
) -> Response[CostHistory | ErrorBody]:
    """Cost history by hour, day or month, of the organization or one of its
    clusters, each figure from the blueprint's cost model or AWS Cost
    Explorer (members and administrators).

    Args:
        name (str):
        granularity (str | Unset):
        from_ (datetime.datetime | Unset):
        to (datetime.datetime | Unset):
        cluster (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[CostHistory | ErrorBody]
    """

    kwargs = _get_kwargs(
        name=name,
        granularity=granularity,
        from_=from_,
        to=to,
        cluster=cluster,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    name: str,
    *,
    client: AuthenticatedClient,
    granularity: str | Unset = UNSET,
    from_: datetime.datetime | Unset = UNSET,
    to: datetime.datetime | Unset = UNSET,
    cluster: str | Unset = UNSET,
) -> CostHistory | ErrorBody | None:
    """Cost history by hour, day or month, of the organization or one of its
    clusters, each figure from the blueprint's cost model or AWS Cost
    Explorer (members and administrators).

    Args:
        name (str):
        granularity (str | Unset):
        from_ (datetime.datetime | Unset):
        to (datetime.datetime | Unset):
        cluster (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        CostHistory | ErrorBody
    """

    return sync_detailed(
        name=name,
        client=client,
        granularity=granularity,
        from_=from_,
        to=to,
        cluster=cluster,
    ).parsed


async def asyncio_detailed(
    name: str,
    *,
    client: AuthenticatedClient,
    granularity: str | Unset = UNSET,
    from_: datetime.datetime | Unset = UNSET,
    to: datetime.datetime | Unset = UNSET,
    cluster: str | Unset = UNSET,
) -> Response[CostHistory | ErrorBody]:
    """Cost history by hour, day or month, of the organization or one of its
    clusters, each figure from the blueprint's cost model or AWS Cost
    Explorer (members and administrators).

    Args:
        name (str):
        granularity (str | Unset):
        from_ (datetime.datetime | Unset):
        to (datetime.datetime | Unset):
        cluster (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[CostHistory | ErrorBody]
    """

    kwargs = _get_kwargs(
        name=name,
        granularity=granularity,
        from_=from_,
        to=to,
        cluster=cluster,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    name: str,
    *,
    client: AuthenticatedClient,
    granularity: str | Unset = UNSET,
    from_: datetime.datetime | Unset = UNSET,
    to: datetime.datetime | Unset = UNSET,
    cluster: str | Unset = UNSET,
) -> CostHistory | ErrorBody | None:
    """Cost history by hour, day or month, of the organization or one of its
    clusters, each figure from the blueprint's cost model or AWS Cost
    Explorer (members and administrators).

    Args:
        name (str):
        granularity (str | Unset):
        from_ (datetime.datetime | Unset):
        to (datetime.datetime | Unset):
        cluster (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        CostHistory | ErrorBody
    """

    return (
        await asyncio_detailed(
            name=name,
            client=client,
            granularity=granularity,
            from_=from_,
            to=to,
            cluster=cluster,
        )
    ).parsed
