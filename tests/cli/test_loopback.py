"""The loopback redirect server (RFC 8252 §7.3, §8.3) against hostile and broken clients.

Real sockets on 127.0.0.1; no sleeps: every wait is on a socket or an event.
"""

from __future__ import annotations

import socket
import threading
from urllib.parse import urlsplit

import httpx
import pytest

from oauthkit._errors import AuthorizationError, ConfigurationError
from oauthkit._loopback import LoopbackServer

STATE = "s-" + "x" * 40


def get(server: LoopbackServer, target: str) -> httpx.Response:
    with httpx.Client(trust_env=False, timeout=5.0) as client:
        return client.get(f"http://127.0.0.1:{server.port}{target}")


def test_binds_loopback_only_with_a_literal_redirect_uri() -> None:
    with LoopbackServer(ports=[0], path="/callback") as server:
        assert server.redirect_uri == f"http://127.0.0.1:{server.port}/callback"
        assert server._server.socket.getsockname()[0] == "127.0.0.1"
    with LoopbackServer("localhost", ports=[0]) as server:  # RFC 8252 §8.3: the literal
        assert urlsplit(server.redirect_uri).hostname == "127.0.0.1"
    with pytest.raises(ConfigurationError):
        LoopbackServer("0.0.0.0", ports=[0])  # noqa: S104 - the point of the test


def test_tries_ports_in_order_and_falls_back() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        with LoopbackServer(ports=[taken, 0]) as server:
            assert server.port not in (taken, 0)
        with pytest.raises(OSError):
            LoopbackServer(ports=[taken])


def test_hostile_requests_are_refused_and_the_real_callback_still_wins() -> None:
    with LoopbackServer(ports=[0], path="/callback") as server:
        # before the flow starts: nothing is accepted
        early = get(server, f"/callback?code=c&state={STATE}")
        assert early.status_code == 503
        server.expect(STATE)
        # a client that opens a connection and never finishes its request
        stalled = socket.create_connection(("127.0.0.1", server.port))
        stalled.sendall(b"GET /callback?code=x")
        try:
            refused = {
                "/other?code=c&state=" + STATE: 404,  # wrong path
                "/callback/?code=c&state=" + STATE: 404,  # not the exact path
                "/callback?code=c": 400,  # no state
                "/callback?code=c&state=": 400,  # empty state
                "/callback?code=c&state=wrong": 400,  # wrong state
                f"/callback?code=c&state={STATE}&state={STATE}": 400,  # repeated (§3.1)
            }
            for target, status in refused.items():
                response = get(server, target)
                assert response.status_code == status, target
                assert not server.received
            with httpx.Client(trust_env=False) as client:
                post = client.post(f"{server.redirect_uri}?code=c&state={STATE}")
            assert post.status_code == 405
            assert not server.received
            ok = get(server, f"/callback?code=the-code&state={STATE}&iss=x")
            assert ok.status_code == 200
            assert "Sign-in complete" in ok.text
            assert server.wait(5) == f"{server.redirect_uri}?code=the-code&state={STATE}&iss=x"
            # a second callback, even a valid one, is refused; the first result stands
            second = get(server, f"/callback?code=other&state={STATE}")
            assert second.status_code == 409
            assert "code=the-code" in server.wait(5)
        finally:
            stalled.close()


def test_reply_page_is_self_contained_and_not_cached() -> None:
    with LoopbackServer(ports=[0]) as server:
        server.expect(STATE)
        response = get(server, f"/?code=c&state={STATE}")
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert "default-src 'none'" in response.headers["content-security-policy"]
    body = response.text.lower()
    for external in ("http://", "https://", "<script", "<link", "<img", "src="):
        assert external not in body
    assert "c&state" not in response.text  # the page does not echo the code


def test_error_redirect_with_the_right_state_is_the_answer() -> None:
    with LoopbackServer(ports=[0]) as server:
        server.expect(STATE)
        response = get(server, f"/?error=access_denied&state={STATE}")
        assert response.status_code == 200
        assert "error=access_denied" in server.wait(5)


def test_total_timeout_and_close_releases_the_port() -> None:
    server = LoopbackServer(ports=[0], connection_timeout=0.2)
    port = server.port
    server.expect(STATE)
    with pytest.raises(AuthorizationError) as info:
        server.wait(0.05)
    assert info.value.error == "timeout"
    stalled = socket.create_connection(("127.0.0.1", port))
    try:
        stalled.sendall(b"GET / HTTP/1.1\r\n")
        server.close()  # cuts the stalled connection and joins its thread
        assert not [t for t in threading.enumerate() if t.name.startswith("oauthkit-loopback")]
        try:
            assert stalled.recv(1024) == b""  # closed (EOF)...
        except ConnectionResetError:  # ...or reset, if it was still in the backlog
            pass
    finally:
        stalled.close()
    server.close()  # idempotent
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=2):
        pass


def test_stalled_connection_times_out_on_its_own() -> None:
    with (
        LoopbackServer(ports=[0], connection_timeout=0.2) as server,
        socket.create_connection(("127.0.0.1", server.port)) as stalled,
    ):
        stalled.settimeout(5)
        stalled.sendall(b"GET /")
        # the server drops it after its per-connection timeout (recv returns, no hang)
        data = stalled.recv(1024)
        assert b"200" not in data
