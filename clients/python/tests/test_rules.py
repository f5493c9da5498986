"""The rules that need no server: when a cluster token is replaced, how the
auth objects answer a 401, where the credentials file is and how it is read
and written, how the server and the token are chosen, and the device flow's
steps against a scripted API."""

from __future__ import annotations

import json
import os
import stat
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest
import requests
import requests.adapters

import slipway
from slipway import _credentials
from slipway._client import _sse_data
from slipway._tokens import ClusterTokens, needs_refresh

EPOCH = 1_800_000_000.0


def at(seconds: float) -> datetime:
    return datetime.fromtimestamp(EPOCH + seconds, tz=timezone.utc)


# -- the refresh rule ------------------------------------------------------


def test_an_hour_token_is_replaced_five_minutes_before_it_expires() -> None:
    received, expires = EPOCH, EPOCH + 3600
    assert not needs_refresh(EPOCH + 3600 - 300.5, received, expires)
    assert needs_refresh(EPOCH + 3600 - 300, received, expires)
    assert needs_refresh(EPOCH + 3600 + 10, received, expires)


def test_a_short_token_is_replaced_in_its_last_fifth() -> None:
    # lifetime 6 s: margin 1.2 s, so from 4.8 s after it was received.
    received, expires = EPOCH, EPOCH + 6
    assert not needs_refresh(EPOCH + 4.7, received, expires)
    assert needs_refresh(EPOCH + 4.8, received, expires)


def test_the_margin_never_exceeds_five_minutes() -> None:
    received, expires = EPOCH, EPOCH + 86_400
    assert not needs_refresh(EPOCH + 86_400 - 301, received, expires)
    assert needs_refresh(EPOCH + 86_400 - 300, received, expires)


class Issuer:
    """Cluster tokens t1, t2, ... each living ``lifetime`` seconds from the
    fake clock's now."""

    def __init__(self, lifetime: float = 60.0) -> None:
        self.now = 0.0
        self.lifetime = lifetime
        self.issued: list[str] = []
        self.failure: Exception | None = None

    def clock(self) -> float:
        return EPOCH + self.now

    def fetch(self) -> tuple[str, datetime]:
        if self.failure is not None:
            raise self.failure
        self.issued.append(f"t{len(self.issued) + 1}")
        return self.issued[-1], at(self.now + self.lifetime)

    def tokens(self) -> ClusterTokens:
        return ClusterTokens(self.fetch, clock=self.clock)


def test_tokens_are_fetched_when_missing_then_by_the_rule() -> None:
    issuer = Issuer(lifetime=60)
    tokens = issuer.tokens()
    assert tokens.current() == "t1"
    issuer.now = 47.9  # margin 12 s: still good
    assert tokens.current() == "t1"
    issuer.now = 48.0
    assert tokens.current() == "t2"
    # The new one's lifetime counts from when it was received.
    issuer.now = 48.0 + 47.9
    assert tokens.current() == "t2"
    assert issuer.issued == ["t1", "t2"]


def test_a_refused_token_is_replaced_once_however_many_requests_saw_it() -> None:
    issuer = Issuer()
    tokens = issuer.tokens()
    refused = tokens.current()
    assert tokens.renew(refused) == "t2"
    # A second request refused with t1 gets t2, already fetched.
    assert tokens.renew(refused) == "t2"
    assert issuer.issued == ["t1", "t2"]


def test_concurrent_requests_share_one_refresh() -> None:
    release = threading.Event()
    fetches: list[int] = []

    def fetch() -> tuple[str, datetime]:
        fetches.append(1)
        assert release.wait(10)
        return f"t{len(fetches)}", datetime.now(timezone.utc) + timedelta(hours=1)

    tokens = ClusterTokens(fetch)
    start = threading.Barrier(9)
    seen: list[str] = []

    def request() -> None:
        start.wait(10)
        seen.append(tokens.current())

    threads = [threading.Thread(target=request) for _ in range(8)]
    for thread in threads:
        thread.start()
    start.wait(10)
    release.set()
    for thread in threads:
        thread.join(10)
    assert seen == ["t1"] * 8
    assert len(fetches) == 1


# -- the auth objects against a scripted gateway -------------------------


class Gateway:
    """Accepts the tokens in ``valid``; refuses others with ``code``."""

    def __init__(self, code: str = "token_expired") -> None:
        self.valid: set[str] = set()
        self.code = code
        self.seen: list[str] = []

    def answer(self, authorization: str | None) -> tuple[int, dict[str, Any]]:
        token = (authorization or "").removeprefix("Bearer ")
        self.seen.append(token)
        if token in self.valid:
            return 200, {"ok": token}
        return 401, {"error": {"code": self.code, "message": f"{self.code} says the gateway"}}

    def httpx(self) -> httpx.MockTransport:
        def handle(request: httpx.Request) -> httpx.Response:
            request.read()
            status, body = self.answer(request.headers.get("authorization"))
            # Streamed, as a network's answers are: not read until asked.
            return httpx.Response(
                status,
                headers={"content-type": "application/json"},
                stream=httpx.ByteStream(json.dumps(body).encode()),
            )

        return httpx.MockTransport(handle)

    def requests(self) -> requests.adapters.HTTPAdapter:
        gateway = self

        class Adapter(requests.adapters.HTTPAdapter):
            def send(
                self, request: requests.PreparedRequest, *args: Any, **kwargs: Any
            ) -> requests.Response:
                status, body = gateway.answer(request.headers.get("Authorization"))
                response = requests.Response()
                response.status_code = status
                response._content = json.dumps(body).encode()
                response.request = request
                response.url = request.url or ""
                response.connection = self
                return response

        return Adapter()


def httpx_get(auth: httpx.Auth, gateway: Gateway, **kwargs: Any) -> httpx.Response:
    with httpx.Client(transport=gateway.httpx(), auth=auth) as client:
        return client.post("https://cluster.test/work", **kwargs)


def requests_get(
    auth: requests.auth.AuthBase, gateway: Gateway, **kwargs: Any
) -> requests.Response:
    with requests.Session() as session:
        session.mount("https://", gateway.requests())
        return session.post("https://cluster.test/work", auth=auth, **kwargs)


@pytest.fixture(params=["httpx", "requests"])
def library(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


def send(library: str, tokens: ClusterTokens, gateway: Gateway, **kwargs: Any) -> int:
    """POSTs through the library's auth object; the answer's status."""
    from slipway._requests_auth import RequestsAuth

    if library == "httpx":
        return httpx_get(slipway.HttpxAuth(tokens), gateway, **kwargs).status_code
    return requests_get(RequestsAuth(tokens), gateway, **kwargs).status_code


def test_an_accepted_request_is_sent_once_and_its_answer_left_streamed(library: str) -> None:
    issuer = Issuer()
    tokens = issuer.tokens()
    gateway = Gateway()
    gateway.valid = {"t1"}
    if library == "httpx":
        auth = slipway.HttpxAuth(tokens)
        with (
            httpx.Client(transport=gateway.httpx(), auth=auth) as client,
            client.stream("POST", "https://cluster.test/work", json={"x": 1}) as response,
        ):
            assert response.status_code == 200
            assert not response.is_stream_consumed
            assert json.loads(response.read()) == {"ok": "t1"}
    else:
        assert send(library, tokens, gateway, json={"x": 1}) == 200
    assert gateway.seen == ["t1"]
    assert issuer.issued == ["t1"]


@pytest.mark.parametrize("code", ["token_expired", "token_revoked"])
def test_a_401_that_a_new_token_cures_is_retried_once(library: str, code: str) -> None:
    issuer = Issuer()
    tokens = issuer.tokens()
    gateway = Gateway(code)
    tokens.current()  # t1, which the gateway will refuse
    gateway.valid = {"t2"}
    assert send(library, tokens, gateway, json={"x": 1}) == 200
    assert gateway.seen == ["t1", "t2"]
    assert issuer.issued == ["t1", "t2"]


@pytest.mark.parametrize("code", ["invalid_token", "unauthenticated"])
def test_other_401s_are_the_callers(library: str, code: str) -> None:
    issuer = Issuer()
    tokens = issuer.tokens()
    gateway = Gateway(code)
    assert send(library, tokens, gateway) == 401
    assert gateway.seen == ["t1"]
    assert issuer.issued == ["t1"]


def test_a_second_401_is_returned_not_looped(library: str) -> None:
    issuer = Issuer()
    tokens = issuer.tokens()
    gateway = Gateway("token_revoked")  # refuses every token
    assert send(library, tokens, gateway, json={"x": 2}) == 401
    assert gateway.seen == ["t1", "t2"]
    assert issuer.issued == ["t1", "t2"]


def test_a_body_that_cannot_be_sent_again_is_not_retried(library: str) -> None:
    issuer = Issuer()
    tokens = issuer.tokens()
    gateway = Gateway("token_expired")

    def chunks() -> Any:
        yield b"streamed "
        yield b"body"

    if library == "httpx":
        status = send(library, tokens, gateway, content=chunks())
    else:
        status = send(library, tokens, gateway, data=chunks())
    assert status == 401
    assert gateway.seen == ["t1"]
    assert issuer.issued == ["t1"]


def test_a_refused_refresh_raises_the_servers_error(library: str) -> None:
    issuer = Issuer()
    tokens = issuer.tokens()
    gateway = Gateway("token_revoked")
    tokens.current()
    issuer.failure = slipway.SlipwayError(
        "only members of organization research may access a private cluster",
        code="forbidden",
        status=403,
    )
    with pytest.raises(slipway.SlipwayError) as raised:
        send(library, tokens, gateway)
    assert raised.value.code == "forbidden"
    assert raised.value.status == 403
    assert str(raised.value) == "only members of organization research may access a private cluster"
    assert gateway.seen == ["t1"]


# -- the credentials file ----------------------------------------------------


def test_the_file_is_under_xdg_config_home_when_it_is_absolute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert slipway.credentials_path() == tmp_path / "xdg" / "slipway" / "credentials.json"
    for ignored in ["relative/dir", ""]:
        monkeypatch.setenv("XDG_CONFIG_HOME", ignored)
        assert slipway.credentials_path() == (
            tmp_path / "home" / ".config" / "slipway" / "credentials.json"
        )
    monkeypatch.delenv("XDG_CONFIG_HOME")
    assert slipway.credentials_path() == (
        tmp_path / "home" / ".config" / "slipway" / "credentials.json"
    )


def saved(token: str, hours: float = 1) -> _credentials.Saved:
    return _credentials.Saved(
        token=token, login="alice", expires_at=datetime.now(timezone.utc) + timedelta(hours=hours)
    )


def test_saving_makes_a_private_directory_and_file_and_keeps_other_servers(
    own_config: Path,
) -> None:
    path = _credentials.save("https://a.example/", saved("ta"))
    assert path == own_config / "slipway" / "credentials.json"
    assert stat.S_IMODE(os.stat(path.parent).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    _credentials.save("https://b.example", saved("tb"))
    document = json.loads(path.read_text())
    assert set(document["servers"]) == {"https://a.example", "https://b.example"}
    assert document["servers"]["https://a.example"]["token"] == "ta"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    # Nothing left beside it (the temporary file was renamed over it).
    assert os.listdir(path.parent) == ["credentials.json"]
    _credentials.forget("https://a.example")
    assert set(json.loads(path.read_text())["servers"]) == {"https://b.example"}


def test_a_file_open_to_others_is_refused_naming_the_fix(own_config: Path) -> None:
    path = _credentials.save("https://a.example", saved("ta"))
    for mode in [0o640, 0o604, 0o660, 0o644]:
        os.chmod(path, mode)
        with pytest.raises(slipway.CredentialsError) as raised:
            _credentials.saved("https://a.example")
        assert str(raised.value) == (
            f"{path} is open to other users (mode {mode:04o}): run chmod 600 {path}"
        )
        # Writing refuses too: it would keep what others could read.
        with pytest.raises(slipway.CredentialsError):
            _credentials.save("https://b.example", saved("tb"))
    os.chmod(path, 0o600)
    found = _credentials.saved("https://a.example")
    assert found is not None
    assert found.token == "ta"


def test_a_file_that_does_not_parse_is_an_error_naming_it(own_config: Path) -> None:
    path = own_config / "slipway" / "credentials.json"
    path.parent.mkdir(parents=True)
    path.write_text("{not json")
    os.chmod(path, 0o600)
    with pytest.raises(slipway.CredentialsError, match=str(path)):
        _credentials.saved("https://a.example")


def test_an_expired_session_counts_as_not_signed_in(own_config: Path) -> None:
    _credentials.save("https://a.example", saved("old", hours=-1))
    assert _credentials.saved("https://a.example") is None
    assert slipway.Client("https://a.example").token is None


def test_the_clis_entries_are_read_as_it_writes_them(own_config: Path) -> None:
    # serde_json's pretty print of chrono's times, nanoseconds and all.
    path = own_config / "slipway" / "credentials.json"
    path.parent.mkdir(parents=True, mode=0o700)
    path.write_text(
        '{\n  "servers": {\n    "http://127.0.0.1:7878": {\n      "token": "ut",\n'
        '      "login": "bob",\n      "expires_at": "2999-01-02T03:04:05.123456789Z"\n'
        "    }\n  }\n}"
    )
    os.chmod(path, 0o600)
    found = _credentials.saved("http://127.0.0.1:7878/")
    assert found == _credentials.Saved(
        token="ut",
        login="bob",
        expires_at=datetime(2999, 1, 2, 3, 4, 5, 123456, tzinfo=timezone.utc),
    )


# -- choosing the server and the token -----------------------------------


def test_the_server_is_the_argument_else_slipway_url_else_the_local_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert slipway.Client().server == "http://127.0.0.1:7878"
    monkeypatch.setenv("SLIPWAY_URL", "https://env.example/")
    assert slipway.Client().server == "https://env.example"
    assert slipway.Client("https://arg.example//").server == "https://arg.example"
    with pytest.raises(slipway.SlipwayError, match="http:// or https://"):
        slipway.Client("ftp://nope")


def test_the_token_is_the_argument_else_slipway_token_else_the_saved_session(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server = "https://s.example"
    _credentials.save(server, saved("from-file"))
    assert slipway.Client(server).token == "from-file"
    monkeypatch.setenv("SLIPWAY_TOKEN", "from-env")
    assert slipway.Client(server).token == "from-env"
    assert slipway.Client(server, token="from-arg").token == "from-arg"
    # With SLIPWAY_TOKEN the file is not read at all: not even refused.
    os.chmod(slipway.credentials_path(), 0o644)
    assert slipway.Client(server).token == "from-env"


def test_not_signed_in_is_a_clear_error() -> None:
    with pytest.raises(slipway.SlipwayError) as raised:
        slipway.Client("https://s.example").status("x")
    assert raised.value.code == "unauthenticated"
    assert "not signed in to https://s.example" in str(raised.value)


# -- the device flow against a scripted API ----------------------------------


def test_the_device_flow_shows_the_code_polls_and_saves_the_session(
    capsys: pytest.CaptureFixture[str],
) -> None:
    server = "https://s.example"
    polls: list[dict[str, Any]] = []
    answers = [
        {"status": "pending"},
        {"status": "slow_down", "interval": 0},
        {
            "status": "complete",
            "session": {
                "token": "user-token",
                "login": "carol",
                "level": "member",
                "organizations": ["research"],
                "expires_at": "2999-01-01T00:00:00Z",
            },
        },
    ]

    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/auth/device":
            return httpx.Response(
                200,
                json={
                    "device_code": "dc",
                    "user_code": "ABCD-1234",
                    "verification_uri": "https://github.test/login/device",
                    "expires_in": 900,
                    "interval": 0,
                },
            )
        assert request.url.path == "/v1/auth/device/token"
        polls.append(json.loads(request.content))
        return httpx.Response(200, json=answers[len(polls) - 1])

    client = slipway.Client(server, httpx_args={"transport": httpx.MockTransport(handle)})
    session = client.login()
    assert session.login == "carol"
    assert polls == [{"device_code": "dc"}] * 3
    assert capsys.readouterr().err == (
        "To sign in, open https://github.test/login/device and enter the code ABCD-1234\n"
    )
    assert client.token == "user-token"
    entry = json.loads(slipway.credentials_path().read_text())["servers"][server]
    assert entry == {"token": "user-token", "login": "carol", "expires_at": "2999-01-01T00:00:00Z"}


def test_a_refused_device_flow_raises_the_servers_message() -> None:
    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/auth/device":
            return httpx.Response(
                200,
                json={
                    "device_code": "dc",
                    "user_code": "C",
                    "verification_uri": "https://github.test/d",
                    "expires_in": 900,
                    "interval": 0,
                },
            )
        return httpx.Response(
            401,
            json={"error": {"code": "access_denied", "message": "the sign-in was denied"}},
        )

    shown: list[tuple[str, str]] = []
    client = slipway.Client(
        "https://s.example", httpx_args={"transport": httpx.MockTransport(handle)}
    )
    with pytest.raises(slipway.SlipwayError) as raised:
        client.login(on_code=lambda code, url: shown.append((code, url)))
    assert shown == [("C", "https://github.test/d")]
    assert (raised.value.code, raised.value.status) == ("access_denied", 401)
    assert str(raised.value) == "the sign-in was denied"
    assert not slipway.credentials_path().exists()


# -- odds and ends -------------------------------------------------------------


def test_server_sent_events_are_read_as_their_data() -> None:
    lines = [": keep-alive", "", "event: a", "id: 1", 'data: {"seq": 1}', "", "data: x", "data: y"]
    assert list(_sse_data(iter(lines))) == ['{"seq": 1}']
    assert list(_sse_data(iter([*lines, ""]))) == ['{"seq": 1}', "x\ny"]


def test_an_answer_that_is_not_an_error_document_still_says_what_it_was() -> None:
    from slipway._errors import error_from_answer

    error = error_from_answer(502, b"<html>bad gateway</html>")
    assert (error.code, error.status) == ("unexpected_answer", 502)
    assert str(error) == "unexpected answer (HTTP 502): <html>bad gateway</html>"
    error = error_from_answer(
        404, b'{"error": {"code": "not_found", "message": "no such cluster"}}'
    )
    assert (error.code, error.status, str(error)) == ("not_found", 404, "no such cluster")


def test_following_a_log_resumes_where_a_broken_stream_left_off() -> None:
    def event(seq: int, kind: str = "line") -> str:
        body = {
            "seq": seq,
            "at": "2026-12-07T10:00:00Z",
            "kind": kind,
            "level": "info",
            "message": f"event {seq}",
        }
        return f"event: {kind}\nid: {seq}\ndata: {json.dumps(body)}\n\n"

    asked_after: list[str] = []
    streams = [
        event(1) + event(2) + 'data: {"seq": 3, tru',  # breaks mid-event
        event(2) + event(3, "operation_finished"),  # the server replays from 2
    ]

    def handle(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/v1/operations/op_1/events"
        assert request.url.params["follow"] == "true"
        asked_after.append(request.headers["last-event-id"])
        return httpx.Response(
            200,
            headers={"content-type": "text/event-stream"},
            content=streams[len(asked_after) - 1].encode(),
        )

    client = slipway.Client(
        "https://s.example", token="t", httpx_args={"transport": httpx.MockTransport(handle)}
    )
    events = list(client.follow("op_1"))
    assert [(e.seq, e.message) for e in events] == [(1, "event 1"), (2, "event 2"), (3, "event 3")]
    assert events[-1].kind == "operation_finished"
    assert asked_after == ["0", "2"]


def test_the_httpx_auth_works_with_the_async_client_too() -> None:
    import asyncio

    issuer = Issuer()
    tokens = issuer.tokens()
    gateway = Gateway("token_expired")
    tokens.current()
    gateway.valid = {"t2"}

    async def call() -> int:
        async with httpx.AsyncClient(
            transport=gateway.httpx(), auth=slipway.HttpxAuth(tokens)
        ) as client:
            response = await client.post("https://cluster.test/work", json={"x": 1})
            return response.status_code

    assert asyncio.run(call()) == 200
    assert gateway.seen == ["t1", "t2"]
