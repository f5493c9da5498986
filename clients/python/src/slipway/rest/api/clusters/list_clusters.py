from http import HTTPStatus
from typing import Any

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.cluster_page import ClusterPage
from ...models.cluster_state import ClusterState
from ...models.error_body import ErrorBody
from ...types import UNSET, Response, Unset


def _get_kwargs(
    *,
    cursor: str | Unset = UNSET,
    before: str | Unset = UNSET,
    limit: int | Unset = UNSET,
    search: str | Unset = UNSET,
    state: ClusterState | Unset = UNSET,
    organization: str | Unset = UNSET,
    public: bool | Unset = UNSET,
    mine: bool | Unset = UNSET,
) -> dict[str, Any]:

    params: dict[str, Any] = {}

    params["cursor"] = cursor

    params["before"] = before

    params["limit"] = limit

    params["search"] = search

    json_state: str | Unset = UNSET
    if not isinstance(state, Unset):
        json_state = state.value

    params["state"] = json_state

    params["organization"] = organization

    params["public"] = public

    params["mine"] = mine

    params = {k: v for k, v in params.items() if v is not UNSET and v is not None}

    _kwargs: dict[str, Any] = {
        "method": "get",
        "url": "/v1/clusters",
        "params": params,
    }

    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> ClusterPage | ErrorBody | None:
    if response.status_code == 200:
        response_200 = ClusterPage.from_dict(response.json())

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
) -> Response[ClusterPage | ErrorBody]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    *,
    client: AuthenticatedClient,
    cursor: str | Unset = UNSET,
    before: str | Unset = UNSET,
    limit: int | Unset = UNSET,
    search: str | Unset = UNSET,
    state: ClusterState | Unset = UNSET,
    organization: str | Unset = UNSET,
    public: bool | Unset = UNSET,
    mine: bool | Unset = UNSET,
) -> Response[ClusterPage | ErrorBody]:
    r"""A page of the clusters the caller may see, by name: searched by a part
    of the name, filtered by state, organization, public or private, and
    \"mine\" (defined by the caller).

    Args:
        cursor (str | Unset):
        before (str | Unset):
        limit (int | Unset):
        search (str | Unset):
        state (ClusterState | Unset): Where a cluster is in its life.

            `absent` → `deploying` → `running` | `failed`; `running` → `updating` →
            `running` | `failed`; `running` | `failed` → `destroying` → `absent` |
            `failed`. A `failed` cluster keeps its error; deploy or destroy may be
            retried.
        organization (str | Unset):
        public (bool | Unset):
        mine (bool | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ClusterPage | ErrorBody]
    """

    kwargs = _get_kwargs(
        cursor=cursor,
        before=before,
        limit=limit,
        search=search,
        state=state,
        organization=organization,
        public=public,
        mine=mine,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    *,
    client: AuthenticatedClient,
    cursor: str | Unset = UNSET,
    before: str | Unset = UNSET,
    limit: int | Unset = UNSET,
    search: str | Unset = UNSET,
    state: ClusterState | Unset = UNSET,
    organization: str | Unset = UNSET,
    public: bool | Unset = UNSET,
    mine: bool | Unset = UNSET,
) -> ClusterPage | ErrorBody | None:
    r"""A page of the clusters the caller may see, by name: searched by a part
    of the name, filtered by state, organization, public or private, and
    \"mine\" (defined by the caller).

    Args:
        cursor (str | Unset):
        before (str | Unset):
        limit (int | Unset):
        search (str | Unset):
        state (ClusterState | Unset): Where a cluster is in its life.

            `absent` → `deploying` → `running` | `failed`; `running` → `updating` →
            `running` | `failed`; `running` | `failed` → `destroying` → `absent` |
            `failed`. A `failed` cluster keeps its error; deploy or destroy may be
            retried.
        organization (str | Unset):
        public (bool | Unset):
        mine (bool | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ClusterPage | ErrorBody
    """

    return sync_detailed(
        client=client,
        cursor=cursor,
        before=before,
        limit=limit,
        search=search,
        state=state,
        organization=organization,
        public=public,
        mine=mine,
    ).parsed


async def asyncio_detailed(
    *,
    client: AuthenticatedClient,
    cursor: str | Unset = UNSET,
    before: str | Unset = UNSET,
    limit: int | Unset = UNSET,
    search: str | Unset = UNSET,
    state: ClusterState | Unset = UNSET,
    organization: str | Unset = UNSET,
    public: bool | Unset = UNSET,
    mine: bool | Unset = UNSET,
) -> Response[ClusterPage | ErrorBody]:
    r"""A page of the clusters the caller may see, by name: searched by a part
    of the name, filtered by state, organization, public or private, and
    \"mine\" (defined by the caller).

    Args:
        cursor (str | Unset):
        before (str | Unset):
        limit (int | Unset):
        search (str | Unset):
        state (ClusterState | Unset): Where a cluster is in its life.

            `absent` → `deploying` → `running` | `failed`; `running` → `updating` →
            `running` | `failed`; `running` | `failed` → `destroying` → `absent` |
            `failed`. A `failed` cluster keeps its error; deploy or destroy may be
            retried.
        organization (str | Unset):
        public (bool | Unset):
        mine (bool | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ClusterPage | ErrorBody]
    """

    kwargs = _get_kwargs(
        cursor=cursor,
        before=before,
        limit=limit,
        search=search,
        state=state,
        organization=organization,
        public=public,
        mine=mine,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    *,
    client: AuthenticatedClient,
    cursor: str | Unset = UNSET,
    before: str | Unset = UNSET,
    limit: int | Unset = UNSET,
    search: str | Unset = UNSET,
    state: ClusterState | Unset = UNSET,
    organization: str | Unset = UNSET,
    public: bool | Unset = UNSET,
    mine: bool | Unset = UNSET,
) -> ClusterPage | ErrorBody | None:
    r"""A page of the clusters the caller may see, by name: searched by a part
    of the name, filtered by state, organization, public or private, and
    \"mine\" (defined by the caller).

    Args:
        cursor (str | Unset):
        before (str | Unset):
        limit (int | Unset):
        search (str | Unset):
        state (ClusterState | Unset): Where a cluster is in its life.

            `absent` → `deploying` → `running` | `failed`; `running` → `updating` →
            `running` | `failed`; `running` | `failed` → `destroying` → `absent` |
            `failed`. A `failed` cluster keeps its error; deploy or destroy may be
            retried.
        organization (str | Unset):
        public (bool | Unset):
        mine (bool | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ClusterPage | ErrorBody
    """

    return (
        await asyncio_detailed(
            client=client,
            cursor=cursor,
            before=before,
            limit=limit,
            search=search,
            state=state,
            organization=organization,
            public=public,
            mine=mine,
        )
    ).parsed
