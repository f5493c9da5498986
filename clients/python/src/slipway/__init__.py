"""Slipway's Python client: sign in, call clusters through their gateways with
tokens kept fresh, and deploy, extend and destroy them.

    import requests, slipway

    cluster = slipway.cluster("research-private")
    requests.get(f"{cluster.endpoint}/health", auth=cluster.requests_auth)

The whole REST API is in :mod:`slipway.rest`, generated from the server's
OpenAPI document; :attr:`Client.rest` is its authenticated client.
"""

from __future__ import annotations

from ._client import DEFAULT_SERVER, Client, Cluster
from ._credentials import credentials_path
from ._errors import CredentialsError, OperationFailed, SlipwayError, StillRunning
from ._tokens import HttpxAuth

__all__ = [
    "DEFAULT_SERVER",
    "Client",
    "Cluster",
    "CredentialsError",
    "HttpxAuth",
    "OperationFailed",
    "SlipwayError",
    "StillRunning",
    "cluster",
    "credentials_path",
]


def cluster(name: str) -> Cluster:
    """The cluster ``name`` on the server of ``SLIPWAY_URL`` (or the local
    one), as the person signed in there (``SLIPWAY_TOKEN``, or the saved
    session of ``slipway login``)."""
    return Client().cluster(name)
