"""The client against the real server and a fake GitHub, in the world the
harness prepared (conftest.World): signing in, calling private clusters
through their gateways with tokens that live seconds, refusals, the
credentials file shared with the CLI, and the lifecycle.

Outcomes are waited for by polling with a deadline or by following the
server's event streams, never by sleeping for them. The loops that keep
calling a gateway are paced (PACE) to stay well under its rate limit for
organization members (100 requests a second): the pause paces requests, it
does not wait for anything."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest
import requests

import slipway
from slipway.rest.api.clusters import access as access_api
from slipway.rest.api.orgs import remove as remove_api

from .conftest import World

#: The pause between two requests of a loop that keeps calling a gateway.
PACE = 0.05


def signed_in(world: World, login: str) -> slipway.Client:
    """A client signed in as ``login`` with their GitHub token."""
    client = slipway.Client(world.server)
    session = client.login(github_token=world.users[login])
    assert session.login == login
    return client


def admin(world: World) -> slipway.Client:
    return slipway.Client(world.server, token=world.admin_token)


def counting_fetches(client: slipway.Client) -> list[str]:
    """Records each cluster token ``client`` asks the server for (the
    cluster's name), whether the server grants it or not."""
    asked: list[str] = []
    fetch = client.cluster_token

    def counted(name: str) -> Any:
        asked.append(name)
        return fetch(name)

    client.cluster_token = counted  # type: ignore[method-assign]
    return asked


def mode(path: os.PathLike[str] | str) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_the_device_flow_signs_in_and_saves_the_session_privately(world: World) -> None:
    shown: list[tuple[str, str]] = []
    client = slipway.Client(world.server)
    session = client.login(on_code=lambda code, url: shown.append((code, url)))
    assert session.login == world.device_user
    assert len(shown) == 1
    code, url = shown[0]
    assert code
    assert url.startswith(("http://", "https://"))

    path = slipway.credentials_path()
    assert mode(path) == 0o600
    assert mode(path.parent) == 0o700
    entry = json.loads(path.read_text())["servers"][world.server]
    assert entry["token"] == session.token
    assert entry["login"] == world.device_user
    assert datetime.fromisoformat(entry["expires_at"].replace("Z", "+00:00")) > datetime.now(
        timezone.utc
    )
    # A new client finds the session: signed in without signing in again.
    assert slipway.Client(world.server).whoami().login == world.device_user


def test_a_private_cluster_is_called_through_its_gateway_with_either_auth(world: World) -> None:
    alice = signed_in(world, "alice")
    cluster = alice.cluster(world.cluster)
    assert cluster.name == world.cluster
    assert cluster.endpoint.startswith("http")

    health = requests.get(f"{cluster.endpoint}/health", auth=cluster.requests_auth, timeout=30)
    assert health.status_code == 200, health.text
    assert health.json()["status"] == "ok"

    with cluster.httpx_client() as http:
        echo = http.post("/some/work", json={"n": 1})
    assert echo.status_code == 200, echo.text
    assert echo.json()["path"] == "/some/work"
    assert echo.json()["headers"]["x-slipway-level"] == "org_member"

    # Without the auth, the gateway refuses: the token is what let them in.
    refused = httpx.get(f"{cluster.endpoint}/some/work", timeout=30)
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "unauthenticated"


def test_tokens_are_refreshed_before_they_expire_and_no_request_fails(world: World) -> None:
    alice = signed_in(world, "alice")
    asked = counting_fetches(alice)
    cluster = alice.cluster(world.cluster)
    first = alice.cluster_token(world.cluster)
    lifetime = (first.expires_at - datetime.now(timezone.utc)).total_seconds()
    assert 0 < lifetime <= world.cluster_token_ttl_seconds
    asked.clear()

    used: list[str] = []
    answers: list[tuple[str, int, str]] = []
    lock = threading.Lock()
    deadline = time.monotonic() + 60
    stop = threading.Event()

    def enough() -> bool:
        with lock:
            return len(set(used)) >= 3

    def keep_calling(library: str, call: Callable[[], tuple[int, str, str]]) -> None:
        while not stop.is_set() and not enough() and time.monotonic() < deadline:
            status, token, text = call()
            with lock:
                used.append(token)
                answers.append((library, status, text))
            stop.wait(PACE)

    def with_httpx(http: httpx.Client) -> Callable[[], tuple[int, str, str]]:
        def call() -> tuple[int, str, str]:
            response = http.get("/work")
            return response.status_code, response.request.headers["authorization"], response.text

        return call

    def with_requests(session: requests.Session) -> Callable[[], tuple[int, str, str]]:
        def call() -> tuple[int, str, str]:
            response = session.get(f"{cluster.endpoint}/work", timeout=30)
            return (
                response.status_code,
                str(response.request.headers["Authorization"]),
                response.text,
            )

        return call

    # Two threads, one per library, sharing the cluster's tokens.
    with cluster.httpx_client() as http, cluster.requests_session() as session:
        threads = [
            threading.Thread(target=keep_calling, args=("httpx", with_httpx(http))),
            threading.Thread(target=keep_calling, args=("requests", with_requests(session))),
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(90)
        stop.set()

    distinct = set(used)
    assert len(distinct) >= 3, f"only {len(distinct)} tokens used by the deadline"
    failed = [answer for answer in answers if answer[1] != 200]
    assert not failed, f"requests that failed: {failed}"
    assert {library for library, _, _ in answers} == {"httpx", "requests"}
    # Each token was asked for once, however many threads needed it.
    assert len(asked) == len(distinct)


def test_a_revoked_token_gets_one_refresh_then_the_servers_refusal(world: World) -> None:
    dave = signed_in(world, "dave")
    asked = counting_fetches(dave)
    cluster = dave.cluster(world.cluster)
    refusals: list[str] = []

    def on_response(response: httpx.Response) -> None:
        if response.status_code == 401:
            response.read()
            refusals.append(response.json()["error"]["code"])

    with cluster.httpx_client(event_hooks={"response": [on_response]}) as http:
        assert http.get("/before").status_code == 200
        assert asked == [world.cluster]

        # An owner takes dave out of the organization: his cluster tokens
        # are revoked, and the gateway refuses them within seconds.
        removed = remove_api.sync_detailed(world.organization, "dave", client=admin(world).rest)
        assert removed.status_code < 300, removed.content

        def keep_calling(deadline: float) -> None:
            while time.monotonic() < deadline:
                response = http.get("/after")
                assert response.status_code == 200, response.text
                time.sleep(PACE)
            pytest.fail("the revocation never reached the gateway")

        with pytest.raises(slipway.SlipwayError) as raised:
            keep_calling(time.monotonic() + 30)

    # One 401 token_revoked, answered by exactly one new token asked for...
    assert refusals == ["token_revoked"]
    assert asked == [world.cluster, world.cluster]
    # ...which the server refused: its code and message, as it says them.
    direct = access_api.sync_detailed(world.cluster, client=dave.rest)
    said = json.loads(direct.content)["error"]
    error = raised.value
    assert (error.status, error.code, error.message) == (
        int(direct.status_code),
        said["code"],
        said["message"],
    )
    assert error.status in (401, 403, 404)
    assert str(error) == said["message"]


def test_another_organizations_cluster_is_refused_with_the_servers_message(
    world: World,
) -> None:
    alice = signed_in(world, "alice")
    other = alice.cluster(world.other_cluster)
    endpoint = admin(world).status(world.other_cluster).endpoint
    assert isinstance(endpoint, str)

    with pytest.raises(slipway.SlipwayError) as raised:
        requests.get(f"{endpoint}/health", auth=other.requests_auth, timeout=30)

    direct = access_api.sync_detailed(world.other_cluster, client=alice.rest)
    said = json.loads(direct.content)["error"]
    # A private cluster of another organization is not even shown to her.
    assert int(direct.status_code) in (403, 404)
    error = raised.value
    assert (error.status, error.code, str(error)) == (
        int(direct.status_code),
        said["code"],
        said["message"],
    )
    assert world.other_cluster in str(error)


def test_a_cli_login_is_used_without_signing_in_again(world: World) -> None:
    login = subprocess.run(
        [world.slipway, "login", "--github-token", world.users["bob"], "--server", world.server],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert login.returncode == 0, login.stderr
    path = slipway.credentials_path()
    assert mode(path) == 0o600

    bob = slipway.Client(world.server)
    assert bob.whoami().login == "bob"
    cluster = bob.cluster(world.other_cluster)
    health = requests.get(f"{cluster.endpoint}/health", auth=cluster.requests_auth, timeout=30)
    assert health.status_code == 200, health.text


def test_a_session_the_client_saved_is_the_clis_too(world: World) -> None:
    signed_in(world, "alice")
    whoami = subprocess.run(
        [world.slipway, "whoami", "--json", "--server", world.server],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert whoami.returncode == 0, whoami.stderr
    assert json.loads(whoami.stdout)["login"] == "alice"


def test_a_group_readable_credentials_file_is_refused_with_the_fix(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    signed_in(world, "alice")
    path = slipway.credentials_path()
    os.chmod(path, 0o640)
    monkeypatch.setenv("SLIPWAY_URL", world.server)

    with pytest.raises(slipway.CredentialsError) as raised:
        slipway.cluster(world.cluster).token()
    refusal = f"{path} is open to other users (mode 0640): run chmod 600 {path}"
    assert str(raised.value) == refusal
    # The CLI refuses it the same way.
    whoami = subprocess.run(
        [world.slipway, "whoami", "--server", world.server],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert whoami.returncode != 0
    assert refusal in whoami.stderr

    os.chmod(path, 0o600)
    assert slipway.cluster(world.cluster).token()


def test_the_lifecycle_create_deploy_with_a_ttl_call_extend_destroy(world: World) -> None:
    alice = signed_in(world, "alice")
    cluster = alice.create("py-lifecycle", world.blueprint, organization=world.organization)

    before = datetime.now(timezone.utc)
    deployed = cluster.deploy(ttl="1h")
    assert deployed.cluster.state == "running"
    assert isinstance(deployed.operation, slipway.rest.models.OperationView)
    assert deployed.operation.state == "succeeded"
    destroy_at = deployed.cluster.destroy_at
    assert isinstance(destroy_at, datetime)
    assert before + timedelta(minutes=59) <= destroy_at <= before + timedelta(minutes=61)

    health = requests.get(f"{cluster.endpoint}/health", auth=cluster.requests_auth, timeout=30)
    assert health.status_code == 200, health.text
    assert health.json()["cluster"] == "py-lifecycle"

    extended = cluster.extend(timedelta(hours=2))
    later = extended.cluster.destroy_at
    assert isinstance(later, datetime)
    assert later >= destroy_at + timedelta(minutes=59)
    assert cluster.status().destroy_at == later

    destroyed = cluster.destroy()
    assert destroyed.cluster.state == "absent"
    assert isinstance(destroyed.operation, slipway.rest.models.OperationView)
    assert destroyed.operation.state == "succeeded"
    with pytest.raises(slipway.SlipwayError) as raised:
        _ = cluster.endpoint
    assert raised.value.code == "no_endpoint"


def test_a_failed_deploy_raises_with_the_operations_error(world: World) -> None:
    alice = signed_in(world, "alice")
    flaky = alice.create(
        "py-flaky",
        world.failing_blueprint,
        organization=world.organization,
        variables={"fail_apply": "true"},
    )
    with pytest.raises(slipway.OperationFailed) as raised:
        flaky.deploy(ttl="1h")

    failed = alice.operation(raised.value.operation.id)
    assert failed.state == "failed"
    assert isinstance(failed.error, str)
    assert failed.error
    assert raised.value.error == failed.error
    assert failed.error in str(raised.value)
    assert raised.value.code == "operation_failed"


def test_following_an_operations_log(world: World) -> None:
    alice = signed_in(world, "alice")
    cluster = alice.create("py-follow", world.blueprint, organization=world.organization)
    started = cluster.deploy(ttl="1h", wait=False)
    operation = started.operation
    assert isinstance(operation, slipway.rest.models.OperationView)

    events = list(alice.follow(operation.id))
    seqs = [event.seq for event in events]
    assert seqs == sorted(set(seqs))
    assert seqs[0] == 1
    assert events[-1].kind == "operation_finished"
    assert all(event.message for event in events)

    # The operation has ended: waiting returns it at once; following from
    # an event on gives only what came after.
    assert alice.wait(operation.id).state == "succeeded"
    rest = list(alice.follow(operation.id, after=seqs[-3]))
    assert [event.seq for event in rest] == seqs[-2:]

    cluster.destroy()
