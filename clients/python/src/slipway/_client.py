"""The hand-written layer over the generated REST client (``slipway.rest``):
who you are to the server, a cluster's endpoint and tokens, and the
lifecycle calls with the CLI's semantics."""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

import httpx

from . import _credentials
from ._errors import OperationFailed, SlipwayError, StillRunning, error_from_answer
from ._tokens import ClusterTokens, HttpxAuth
from .rest import AuthenticatedClient
from .rest import Client as AnonymousClient
from .rest.api.clusters import access as access_api
from .rest.api.clusters import cluster_status as cluster_status_api
from .rest.api.clusters import create_cluster as create_cluster_api
from .rest.api.clusters import deploy as deploy_api
from .rest.api.clusters import destroy as destroy_api
from .rest.api.clusters import schedule_destroy as schedule_destroy_api
from .rest.api.identity import device_poll as device_poll_api
from .rest.api.identity import device_start as device_start_api
from .rest.api.identity import github_token as github_token_api
from .rest.api.identity import logout as logout_api
from .rest.api.identity import whoami as whoami_api
from .rest.api.operations import operation as operation_api
from .rest.models import (
    ActionResponse,
    ClusterStatus,
    ClusterToken,
    CreateCluster,
    CreateClusterVariables,
    DeployCluster,
    DeployClusterVariablesPatchType0,
    DestroyCluster,
    DevicePoll,
    DeviceStatus,
    ErrorBody,
    Event,
    GitHubTokenLogin,
    OperationState,
    OperationView,
    ScheduleDestroy,
    Session,
    WhoAmI,
)
from .rest.types import UNSET, Response

if TYPE_CHECKING:
    import requests

    from ._requests_auth import RequestsAuth

#: The server when none is given, nor ``SLIPWAY_URL`` set: the CLI's default.
DEFAULT_SERVER = "http://127.0.0.1:7878"
#: How long lifecycle calls wait for their operation by default (the CLI's).
DEFAULT_WAIT = 600.0
#: The event that ends an operation's log.
FINISHED = "operation_finished"
#: Answers worth asking again later (the CLI's transient errors).
_TRANSIENT = frozenset({429, 502, 503, 504})
#: How long following a log keeps reconnecting through failures in a row.
_PATIENCE = 60.0

T = TypeVar("T")


def _unwrap(response: Response[T | ErrorBody]) -> T:
    """The answer, or the error the server answered."""
    status = int(response.status_code)
    parsed = response.parsed
    if 200 <= status < 300 and parsed is not None and not isinstance(parsed, ErrorBody):
        return parsed
    raise error_from_answer(status, response.content)


def _duration(value: str | timedelta) -> str:
    """A duration as the API takes it (``90s``, ``10m``, ``2h``)."""
    if isinstance(value, timedelta):
        return f"{int(value.total_seconds())}s"
    return value


def _retry_pause(failures: int) -> float:
    """The CLI's pause before asking again: 0.2 s doubling, at most 2 s."""
    return float(min(0.2 * 2 ** min(failures, 4), 2.0))


class Client:
    """A connection to a Slipway server, as someone signed in.

    The server: ``server``, else ``SLIPWAY_URL``, else
    ``http://127.0.0.1:7878``. The token: ``token``, else ``SLIPWAY_TOKEN``,
    else the unexpired session saved for that server in the credentials
    file (``slipway login``, or :meth:`login`), read when first needed.

    ``httpx_args`` go to the ``httpx.Client`` that talks to the server
    (``verify``, ``proxy``, ``transport``, ``event_hooks``...).
    """

    def __init__(
        self,
        server: str | None = None,
        token: str | None = None,
        *,
        timeout: float = 30.0,
        httpx_args: dict[str, Any] | None = None,
    ) -> None:
        self.server = (server or os.environ.get("SLIPWAY_URL") or DEFAULT_SERVER).rstrip("/")
        if not self.server.startswith(("http://", "https://")):
            raise SlipwayError(
                f"the server must be an http:// or https:// URL (got {self.server!r})",
                code="invalid_request",
            )
        self._token = token or os.environ.get("SLIPWAY_TOKEN") or None
        self._looked_up = self._token is not None
        self._timeout = httpx.Timeout(timeout)
        self._httpx_args = dict(httpx_args or {})
        self._rest: AuthenticatedClient | None = None
        self._anonymous: AnonymousClient | None = None

    def __repr__(self) -> str:
        return f"slipway.Client(server={self.server!r})"

    # -- who you are -------------------------------------------------------

    @property
    def token(self) -> str | None:
        """The API token this client sends, if it has one."""
        if not self._looked_up:
            found = _credentials.saved(self.server)
            self._token = found.token if found else None
            self._looked_up = True
        return self._token

    @property
    def rest(self) -> AuthenticatedClient:
        """The whole REST API, typed: pass it as ``client=`` to the functions
        of ``slipway.rest.api``."""
        if self._rest is None:
            token = self.token
            if token is None:
                raise SlipwayError(
                    f"not signed in to {self.server}: sign in with slipway.Client().login() "
                    "or `slipway login`, or set SLIPWAY_TOKEN",
                    code="unauthenticated",
                )
            self._rest = AuthenticatedClient(
                base_url=self.server,
                token=token,
                timeout=self._timeout,
                httpx_args=self._httpx_args,
            )
        return self._rest

    def _public(self) -> AnonymousClient:
        if self._anonymous is None:
            self._anonymous = AnonymousClient(
                base_url=self.server, timeout=self._timeout, httpx_args=self._httpx_args
            )
        return self._anonymous

    @contextmanager
    def _reaching(self) -> Iterator[None]:
        try:
            yield
        except httpx.TransportError as e:
            raise SlipwayError(
                f"cannot reach Slipway at {self.server}: {e}", code="unavailable"
            ) from e

    def login(
        self,
        *,
        github_token: str | None = None,
        on_code: Callable[[str, str], object] | None = None,
    ) -> Session:
        """Signs in with GitHub and saves the session in the credentials file.

        With ``github_token``, with that token (scripts, CI); otherwise by
        GitHub's device flow: the code and the URL where to enter it are
        printed on stderr, or handed to ``on_code(user_code,
        verification_uri)`` (a notebook shows them its own way), and this
        waits until the person approves (or the code expires: an error).
        """
        with self._reaching():
            if github_token is not None:
                session = _unwrap(
                    github_token_api.sync_detailed(
                        client=self._public(), body=GitHubTokenLogin(token=github_token)
                    )
                )
            else:
                session = self._device_flow(on_code)
        _credentials.save(
            self.server,
            _credentials.Saved(
                token=session.token, login=session.login, expires_at=session.expires_at
            ),
        )
        self._use(session.token)
        return session

    def _device_flow(self, on_code: Callable[[str, str], object] | None) -> Session:
        start = _unwrap(device_start_api.sync_detailed(client=self._public()))
        if on_code is None:
            print(
                f"To sign in, open {start.verification_uri} and enter the code {start.user_code}",
                file=sys.stderr,
                flush=True,
            )
        else:
            on_code(start.user_code, start.verification_uri)
        interval = float(start.interval)
        deadline = time.monotonic() + start.expires_in
        while True:
            # An interval of 0 asks again at once.
            if interval > 0:
                time.sleep(interval)
            if time.monotonic() > deadline:
                raise SlipwayError(
                    "the code expired before it was approved; sign in again",
                    code="device_code_expired",
                )
            poll = _unwrap(
                device_poll_api.sync_detailed(
                    client=self._public(), body=DevicePoll(device_code=start.device_code)
                )
            )
            if poll.status == DeviceStatus.COMPLETE:
                if not isinstance(poll.session, Session):
                    raise SlipwayError(
                        "the server completed the sign-in without a session", code="protocol"
                    )
                return poll.session
            if poll.status == DeviceStatus.SLOW_DOWN:
                asked = poll.interval if isinstance(poll.interval, int) else None
                interval = float(asked) if asked is not None else interval + 5

    def _use(self, token: str | None) -> None:
        self._token = token
        self._looked_up = True
        self._rest = None

    def close(self) -> None:
        """Closes the connections to the server (also on leaving a ``with``)."""
        for client in (self._rest, self._anonymous):
            if client is not None:
                client.get_httpx_client().close()
        self._rest = self._anonymous = None

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def logout(self) -> None:
        """Signs out: the token is revoked and the saved session forgotten."""
        token = self.token
        try:
            if token is not None:
                with self._reaching():
                    logout_api.sync_detailed(client=self.rest)
        finally:
            _credentials.forget(self.server)
            self._use(None)

    def whoami(self) -> WhoAmI:
        """Who the server takes this client for."""
        with self._reaching():
            return _unwrap(whoami_api.sync_detailed(client=self.rest))

    # -- clusters -------------------------------------------------------------

    def cluster(self, name: str) -> Cluster:
        """A cluster: its endpoint, auth objects for ``requests`` and
        ``httpx`` that keep its token fresh, and its lifecycle."""
        return Cluster(self, name)

    def cluster_token(self, name: str) -> ClusterToken:
        """A new token for the cluster (``POST /v1/clusters/{name}/access``;
        what ``slipway access`` prints)."""
        with self._reaching():
            return _unwrap(access_api.sync_detailed(name, client=self.rest))

    def status(self, name: str) -> ClusterStatus:
        """The cluster's status."""
        with self._reaching():
            return _unwrap(cluster_status_api.sync_detailed(name, client=self.rest))

    def create(
        self,
        name: str,
        blueprint: str,
        *,
        organization: str | None = None,
        nodes: int | None = None,
        public: bool = False,
        variables: dict[str, Any] | None = None,
        version: str | None = None,
    ) -> Cluster:
        """Defines a cluster (nothing is deployed yet: :meth:`deploy`)."""
        body = CreateCluster(
            name=name,
            blueprint=blueprint,
            organization=organization if organization is not None else UNSET,
            nodes=nodes if nodes is not None else UNSET,
            public=public,
            variables=CreateClusterVariables.from_dict(variables or {}),
            version=version if version is not None else UNSET,
        )
        with self._reaching():
            _unwrap(create_cluster_api.sync_detailed(client=self.rest, body=body))
        return self.cluster(name)

    def deploy(
        self,
        name: str,
        *,
        ttl: str | timedelta | None = None,
        destroy_at: datetime | None = None,
        nodes: int | None = None,
        version: str | None = None,
        variables: dict[str, Any] | None = None,
        wait: bool = True,
        timeout: float = DEFAULT_WAIT,
    ) -> ActionResponse:
        """Deploys the cluster (or updates it in place), to be destroyed after
        ``ttl`` (``"2h"``, a timedelta) or at ``destroy_at``. ``variables``
        changes the ones named, keeping the others (``None`` as a value
        returns one to its default), like ``slipway deploy --var``.

        Waits for the operation (unless ``wait=False``) and raises
        :class:`OperationFailed`, with the operation's error, unless it
        succeeded and the cluster runs; :class:`StillRunning` if ``timeout``
        seconds pass first."""
        body = DeployCluster(
            ttl=_duration(ttl) if ttl is not None else UNSET,
            destroy_at=destroy_at if destroy_at is not None else UNSET,
            nodes=nodes if nodes is not None else UNSET,
            version=version if version is not None else UNSET,
            variables_patch=(
                DeployClusterVariablesPatchType0.from_dict(variables) if variables else UNSET
            ),
        )
        with self._reaching():
            answer = _unwrap(deploy_api.sync_detailed(name, client=self.rest, body=body))
        return self._finish(answer, wait, timeout, arrived="running")

    def destroy(
        self,
        name: str,
        *,
        force: bool = False,
        reason: str | None = None,
        wait: bool = True,
        timeout: float = DEFAULT_WAIT,
    ) -> ActionResponse:
        """Destroys what the cluster deployed (its definition stays). Waits
        like :meth:`deploy`."""
        body = DestroyCluster(force=force, reason=reason if reason is not None else UNSET)
        with self._reaching():
            answer = _unwrap(destroy_api.sync_detailed(name, client=self.rest, body=body))
        return self._finish(answer, wait, timeout, arrived="absent")

    def extend(
        self,
        name: str,
        ttl: str | timedelta | None = None,
        *,
        at: datetime | None = None,
    ) -> ActionResponse:
        """Moves the cluster's scheduled destroy to ``ttl`` from now (``"2h"``,
        a timedelta) or to ``at`` (``PUT /v1/clusters/{name}/schedule``)."""
        if (ttl is None) == (at is None):
            raise SlipwayError("give ttl or at (one of them)", code="invalid_request")
        body = ScheduleDestroy(
            at=at if at is not None else UNSET,
            in_=_duration(ttl) if ttl is not None else UNSET,
        )
        with self._reaching():
            return _unwrap(schedule_destroy_api.sync_detailed(name, client=self.rest, body=body))

    def operation(self, operation_id: str) -> OperationView:
        """An operation, as it is now."""
        with self._reaching():
            return _unwrap(operation_api.sync_detailed(operation_id, client=self.rest))

    # -- operations --------------------------------------------------------

    def wait(self, operation_id: str, *, timeout: float = DEFAULT_WAIT) -> OperationView:
        """Waits until the operation ends (following its log) and returns it;
        raises :class:`OperationFailed` with the operation's error if it
        failed, was cancelled or interrupted, :class:`StillRunning` if
        ``timeout`` seconds pass first."""
        ended = self._wait(operation_id, time.monotonic() + timeout)
        if ended.state != OperationState.SUCCEEDED:
            raise _failed(ended)
        return ended

    def _wait(self, operation_id: str, deadline: float) -> OperationView:
        for _ in self._events(operation_id, 0, deadline):
            pass
        ended = self.operation(operation_id)
        if ended.state in (OperationState.QUEUED, OperationState.RUNNING):
            raise StillRunning(
                f"operation {ended.id} ({ended.kind.value} of {ended.cluster}) is still "
                f"{ended.state.value} after the wait",
                operation=ended,
            )
        return ended

    def _finish(
        self, answer: ActionResponse, wait: bool, timeout: float, *, arrived: str
    ) -> ActionResponse:
        """Waits for an action's operation and says how it went, as the CLI:
        it succeeded when its operation did and the cluster is where the
        action puts it."""
        if not wait or not isinstance(answer.operation, OperationView):
            return answer
        ended = self._wait(answer.operation.id, time.monotonic() + timeout)
        answer.operation = ended
        answer.cluster = self.status(answer.cluster.name)
        state = answer.cluster.state.value
        if ended.state != OperationState.SUCCEEDED or state != arrived:
            raise _failed(ended, f"{answer.cluster.name} is {state}")
        return answer

    def follow(self, operation_id: str, *, after: int = 0) -> Iterator[Event]:
        """The operation's log events after ``after``, as they happen, until
        its last (``operation_finished``). Reconnects where it left off when
        the connection breaks, as the CLI does."""
        return self._events(operation_id, after, None)

    def _events(self, operation_id: str, after: int, deadline: float | None) -> Iterator[Event]:
        """The server-sent events of ``GET /v1/operations/{id}/events?follow=true``
        until the last one, or until ``deadline`` (a ``time.monotonic()``)."""
        http = self.rest.get_httpx_client()
        last = after
        failing_since: float | None = None
        failures = 0
        while True:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return
            # The server sends a keep-alive every 15 s: a read that waits
            # longer means the connection is gone.
            read = 60.0 if left is None else min(60.0, left)
            try:
                with http.stream(
                    "GET",
                    f"/v1/operations/{operation_id}/events",
                    params={"follow": "true"},
                    headers={"accept": "text/event-stream", "last-event-id": str(last)},
                    timeout=httpx.Timeout(self._timeout.connect or 30.0, read=read),
                ) as response:
                    if response.status_code != 200:
                        response.read()
                        error = error_from_answer(response.status_code, response.content)
                        if response.status_code not in _TRANSIENT:
                            raise error
                        problem: Exception = error
                    else:
                        for data in _sse_data(response.iter_lines()):
                            event = Event.from_dict(json.loads(data))
                            failing_since, failures = None, 0
                            if event.seq <= last:
                                continue
                            last = event.seq
                            yield event
                            if event.kind == FINISHED:
                                return
                        problem = SlipwayError(
                            f"the event stream from {self.server} ended before the operation did",
                            code="unavailable",
                        )
            except httpx.TransportError as e:
                if deadline is not None and time.monotonic() >= deadline:
                    return
                problem = e
            now = time.monotonic()
            failing_since = failing_since if failing_since is not None else now
            if now - failing_since >= _PATIENCE:
                if isinstance(problem, SlipwayError):
                    raise problem
                raise SlipwayError(
                    f"cannot follow operation {operation_id} at {self.server}: {problem}",
                    code="unavailable",
                ) from problem
            time.sleep(_retry_pause(failures))
            failures += 1


def _failed(ended: OperationView, what: str | None = None) -> OperationFailed:
    """The CLI's words for an operation that did not do what was asked."""
    error = ended.error if isinstance(ended.error, str) else None
    return OperationFailed(
        f"{what + ': ' if what else ''}operation {ended.id} ({ended.kind.value} of "
        f"{ended.cluster}) {ended.state.value}{': ' + error if error else ''}; "
        f"see its log: slipway logs {ended.id}",
        operation=ended,
        error=error,
    )


def _sse_data(lines: Iterator[str]) -> Iterator[str]:
    """The data of each server-sent event (its ``data:`` lines joined); an
    event the stream ended in the middle of is dropped, as the standard says."""
    data: list[str] = []
    for line in lines:
        if not line:
            if data:
                yield "\n".join(data)
            data = []
        elif line.startswith("data:"):
            value = line[5:]
            data.append(value[1:] if value.startswith(" ") else value)


class Cluster:
    """A cluster as someone signed in reaches it: its endpoint, its tokens
    kept fresh (``httpx_auth``, ``requests_auth``) and its lifecycle.

    Both auth objects share this cluster's tokens, and may be shared by
    threads: concurrent requests share one refresh."""

    def __init__(self, client: Client, name: str) -> None:
        self.client = client
        self.name = name
        self._endpoint: str | None = None
        self._tokens = ClusterTokens(self._fetch_token)
        self._httpx_auth = HttpxAuth(self._tokens)
        self._requests_auth: RequestsAuth | None = None

    def __repr__(self) -> str:
        return f"slipway.Cluster({self.name!r}, server={self.client.server!r})"

    def _fetch_token(self) -> tuple[str, datetime]:
        token = self.client.cluster_token(self.name)
        return token.token, token.expires_at

    @property
    def endpoint(self) -> str:
        """The cluster's URL (its gateway), once it is deployed."""
        if self._endpoint is None:
            status = self.status()
            if not isinstance(status.endpoint, str):
                raise SlipwayError(
                    f"{self.name} has no endpoint: it is {status.state.value}",
                    code="no_endpoint",
                )
            self._endpoint = status.endpoint.rstrip("/")
        return self._endpoint

    def token(self) -> str:
        """A cluster token valid now (the one the auth objects send)."""
        return self._tokens.current()

    @property
    def httpx_auth(self) -> httpx.Auth:
        """An ``httpx.Auth`` sending this cluster's token."""
        return self._httpx_auth

    @property
    def requests_auth(self) -> RequestsAuth:
        """A ``requests.auth.AuthBase`` sending this cluster's token (needs
        ``requests``: ``pip install slipway-client[requests]``)."""
        if self._requests_auth is None:
            try:
                from ._requests_auth import RequestsAuth
            except ImportError as e:
                raise ImportError(
                    "requests_auth needs requests: pip install 'slipway-client[requests]'"
                ) from e
            self._requests_auth = RequestsAuth(self._tokens)
        return self._requests_auth

    def httpx_client(self, **kwargs: Any) -> httpx.Client:
        """An ``httpx.Client`` for the cluster: its endpoint as ``base_url``,
        its token sent. Other arguments go to ``httpx.Client``."""
        return httpx.Client(base_url=self.endpoint, auth=self._httpx_auth, **kwargs)

    def requests_session(self) -> requests.Session:
        """A ``requests.Session`` sending the cluster's token (requests takes
        full URLs: ``session.get(cluster.endpoint + "/path")``)."""
        import requests

        session = requests.Session()
        session.auth = self.requests_auth
        return session

    # -- lifecycle, as Client's for this cluster ---------------------------

    def status(self) -> ClusterStatus:
        return self.client.status(self.name)

    def deploy(
        self,
        *,
        ttl: str | timedelta | None = None,
        destroy_at: datetime | None = None,
        nodes: int | None = None,
        version: str | None = None,
        variables: dict[str, Any] | None = None,
        wait: bool = True,
        timeout: float = DEFAULT_WAIT,
    ) -> ActionResponse:
        """:meth:`Client.deploy` of this cluster."""
        self._endpoint = None
        return self.client.deploy(
            self.name,
            ttl=ttl,
            destroy_at=destroy_at,
            nodes=nodes,
            version=version,
            variables=variables,
            wait=wait,
            timeout=timeout,
        )

    def destroy(
        self,
        *,
        force: bool = False,
        reason: str | None = None,
        wait: bool = True,
        timeout: float = DEFAULT_WAIT,
    ) -> ActionResponse:
        """:meth:`Client.destroy` of this cluster."""
        self._endpoint = None
        return self.client.destroy(
            self.name, force=force, reason=reason, wait=wait, timeout=timeout
        )

    def extend(
        self, ttl: str | timedelta | None = None, *, at: datetime | None = None
    ) -> ActionResponse:
        """:meth:`Client.extend` of this cluster."""
        return self.client.extend(self.name, ttl, at=at)
