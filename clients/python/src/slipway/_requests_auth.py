"""The ``requests`` auth (imported only when asked for: ``requests`` is an
optional dependency, ``pip install slipway-client[requests]``)."""

from __future__ import annotations

from typing import Any

import requests
from requests.auth import AuthBase

from ._tokens import ClusterTokens, asks_for_a_new_token


class RequestsAuth(AuthBase):
    """A ``requests.auth.AuthBase`` that sends a cluster's token, renewing it
    by the refresh rule, and once more on a 401 ``token_expired`` or
    ``token_revoked`` (when the body can be sent again). A failure to get a
    token raises :class:`slipway.SlipwayError` with the server's code and
    message."""

    def __init__(self, tokens: ClusterTokens) -> None:
        self._tokens = tokens

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        token = self._tokens.current()
        request.headers["Authorization"] = f"Bearer {token}"
        if request.body is None or isinstance(request.body, (bytes, str)):

            def retry(response: requests.Response, **kwargs: Any) -> requests.Response:
                return self._retry(response, token, **kwargs)

            request.hooks["response"].append(retry)
        return request

    def _retry(self, response: requests.Response, token: str, **kwargs: Any) -> requests.Response:
        # Only a 401's body is read: streamed answers stay streamed.
        if response.status_code != 401 or not asks_for_a_new_token(401, response.content):
            return response
        fresh = self._tokens.renew(token)
        response.close()
        # Sent once more through the same adapter, as requests' digest auth
        # does: no hook runs on that answer, so a second 401 is the caller's.
        again = response.request.copy()
        again.headers["Authorization"] = f"Bearer {fresh}"
        connection: Any = response.connection
        retried: requests.Response = connection.send(again, **kwargs)
        retried.history.append(response)
        retried.request = again
        return retried
