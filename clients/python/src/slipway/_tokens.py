"""Cluster tokens kept fresh, and the ``httpx`` auth that sends them.

The refresh rule: get a new token before sending a request when
``now >= expires_at - margin``, where ``margin = min(300 s, lifetime / 5)``
and ``lifetime = expires_at - the time the token was received`` (the local
clock). Concurrent requests share one refresh. On a 401 whose error code is
``token_expired`` or ``token_revoked`` the request is sent again once with a
new token, when its body can be sent again; any other 401 is the caller's.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import AsyncGenerator, Callable, Generator
from datetime import datetime

import httpx

#: The gateway's codes for a token that a new one cures.
RETRY_CODES = frozenset({"token_expired", "token_revoked"})
#: The most time before expiry a token is replaced: five minutes.
MAX_MARGIN = 300.0


def needs_refresh(now: float, received_at: float, expires_at: float) -> bool:
    """Whether a token received at ``received_at`` that expires at
    ``expires_at`` is to be replaced at ``now`` (seconds since the epoch)."""
    lifetime = expires_at - received_at
    margin = max(0.0, min(MAX_MARGIN, lifetime / 5))
    return now >= expires_at - margin


def asks_for_a_new_token(status: int, content: bytes) -> bool:
    """Whether an answer is a 401 that a new token cures."""
    if status != 401:
        return False
    try:
        code = json.loads(content)["error"]["code"]
    except (ValueError, KeyError, TypeError):
        return False
    return code in RETRY_CODES


class ClusterTokens:
    """A cluster's current token, fetched with ``fetch`` (which returns the
    token and its expiry) when there is none or the refresh rule says so.
    Thread-safe: one lock around the refresh, so concurrent requests share
    one."""

    def __init__(
        self,
        fetch: Callable[[], tuple[str, datetime]],
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._fetch = fetch
        self._clock = clock
        self._lock = threading.Lock()
        self._token: str | None = None
        self._received_at = 0.0
        self._expires_at = 0.0

    def current(self) -> str:
        """A token to send now."""
        with self._lock:
            if self._token is None or needs_refresh(
                self._clock(), self._received_at, self._expires_at
            ):
                return self._refresh()
            return self._token

    def renew(self, refused: str) -> str:
        """A token to send instead of ``refused``, which the cluster refused:
        a new one, unless another request already replaced it."""
        with self._lock:
            if self._token is None or self._token == refused:
                return self._refresh()
            return self._token

    def _refresh(self) -> str:
        token, expires_at = self._fetch()
        self._token = token
        self._received_at = self._clock()
        self._expires_at = expires_at.timestamp()
        return token


class HttpxAuth(httpx.Auth):
    """An ``httpx.Auth`` that sends a cluster's token (``Authorization:
    Bearer``), renewing it by the refresh rule, and once more on a 401
    ``token_expired`` or ``token_revoked``. A failure to get a token raises
    :class:`slipway.SlipwayError` with the server's code and message.

    With ``httpx.AsyncClient`` the token is fetched with a blocking call (at
    most once per refresh)."""

    def __init__(self, tokens: ClusterTokens) -> None:
        self._tokens = tokens

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        # The answer's body is read (by the sync or async flow below) only
        # when it is a 401, so streamed answers stay streamed.
        token = self._tokens.current()
        request.headers["Authorization"] = f"Bearer {token}"
        replayable = isinstance(request.stream, httpx.ByteStream)
        response = yield request
        if (
            replayable
            and response.status_code == 401
            and asks_for_a_new_token(401, response.content)
        ):
            request.headers["Authorization"] = f"Bearer {self._tokens.renew(token)}"
            yield request

    def sync_auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        flow = self.auth_flow(request)
        request = next(flow)
        while True:
            response = yield request
            if response.status_code == 401:
                response.read()
            try:
                request = flow.send(response)
            except StopIteration:
                break

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        flow = self.auth_flow(request)
        request = next(flow)
        while True:
            response = yield request
            if response.status_code == 401:
                await response.aread()
            try:
                request = flow.send(response)
            except StopIteration:
                break
