"""Command-line tools for installed apps (the classic ``oauth2client.tools`` API).

``run_flow(flow, storage, flags)`` gets a user's credentials on the machine the command
runs on, stores them, and returns them. It picks the way by environment:

1. **loopback redirect** (RFC 8252 §7.3) when a browser can be opened here: a one-shot
   server on ``127.0.0.1`` (see ``oauthkit._loopback``), the system browser opened with
   :func:`webbrowser.open` (which honours ``$BROWSER``), the URL always printed too;
2. **device grant** (RFC 8628) when there is no browser here (``--noauth_local_webserver``,
   an SSH session, no display, or no loopback port could be bound) and the flow has a
   device authorization endpoint: the user opens a short URL on any device and types a code;
3. **paste mode** otherwise: the user opens the URL on any machine, signs in, and pastes
   back the full URL of the page the browser was redirected to (its address bar);
   ``state`` and ``iss`` are checked as for the loopback redirect.

The out-of-band URN (``urn:ietf:wg:oauth:2.0:oob``) is never sent: providers disabled it.

Usage (classic)::

    parser = argparse.ArgumentParser(parents=[tools.argparser])
    flags = parser.parse_args()
    credentials = tools.run_flow(flow, storage, flags)
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TextIO
from urllib.parse import urlsplit

from oauthkit._errors import AuthorizationError, ConfigurationError, TokenEndpointError

if TYPE_CHECKING:
    from oauthkit._credentials import OAuth2Credentials

# Only light imports at module level: `oauthkit token` builds this parser on every run.

__all__ = ["argparser", "browser_available", "choose_mode", "message_if_missing", "run_flow"]

_CLIENT_SECRETS_MESSAGE = """WARNING: Please configure OAuth 2.0

To make this sample run you will need to populate the client_secrets.json file
found at:

   {file_path}

with information from the APIs Console <https://console.developers.google.com>.

"""

MODES = ("auto", "loopback", "device", "paste")
"""Values of ``flags.mode`` (``auto`` chooses by environment)."""


def _argparser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument(
        "--auth_host_name",
        default="127.0.0.1",
        help="loopback address the redirect server listens on: 127.0.0.1 (default) or ::1 "
        "(localhost is read as 127.0.0.1, RFC 8252 §8.3)",
    )
    parser.add_argument(
        "--noauth_local_webserver",
        action="store_true",
        default=False,
        help="do not run a local web server: use the device grant, or paste the redirect URL",
    )
    parser.add_argument(
        "--auth_host_port",
        default=[8080, 8090],
        type=int,
        nargs="*",
        help="ports to try for the redirect server, in order; 0 means any free port",
    )
    parser.add_argument(
        "--logging_level",
        default="ERROR",
        choices=["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"],
        help="set the logging level of detail",
    )
    return parser


argparser = _argparser()
"""An argparse parent parser with the classic flags (use ``parents=[tools.argparser]``)."""


def message_if_missing(filename: str) -> str:
    """The helpful message to show when a client secrets file is missing (classic)."""
    return _CLIENT_SECRETS_MESSAGE.format(file_path=filename)


def browser_available(env: dict[str, str] | None = None) -> bool:
    """Whether a browser can plausibly be opened on this machine.

    ``$BROWSER`` set -> yes. An SSH session (``SSH_CONNECTION``/``SSH_TTY``) -> no: the
    browser would open on the remote host, whose loopback the user's browser cannot reach.
    Linux/BSD without ``DISPLAY`` or ``WAYLAND_DISPLAY`` -> no. Otherwise yes.
    """
    env = dict(os.environ) if env is None else env
    if env.get("BROWSER"):
        return True
    if env.get("SSH_CONNECTION") or env.get("SSH_TTY"):
        return False
    if sys.platform.startswith(("linux", "freebsd", "openbsd", "netbsd")):
        return bool(env.get("DISPLAY") or env.get("WAYLAND_DISPLAY"))
    return True


def choose_mode(flow: Any, flags: argparse.Namespace, env: dict[str, str] | None = None) -> str:
    """``loopback``, ``device`` or ``paste`` for ``flow`` given ``flags`` and the environment
    (``flags.mode``, when present and not ``auto``, decides)."""
    mode = getattr(flags, "mode", "auto") or "auto"
    if mode != "auto":
        return str(mode)
    if not flags.noauth_local_webserver and browser_available(env):
        return "loopback"
    return "device" if getattr(flow, "device_uri", None) else "paste"


def _loopback_path(flow: Any) -> str:
    """Keep the path of a loopback redirect URI the flow was built with (the client is
    registered with it); ``/`` otherwise (the classic ``http://localhost:8080/``)."""
    from oauthkit._protocol import rfc6749

    uri = getattr(flow, "redirect_uri", None)
    if isinstance(uri, str) and uri.startswith("http://") and rfc6749.is_loopback_url(uri):
        path = urlsplit(uri).path
        if path.startswith("/"):
            return path
    return "/"


def _say(out: TextIO, text: str) -> None:
    print(text, file=out, flush=True)


def _run_loopback(
    flow: Any, flags: argparse.Namespace, http: Any, out: TextIO, timeout: float
) -> OAuth2Credentials | None:
    """The loopback redirect; ``None`` when no port could be bound."""
    import logging
    import webbrowser

    from oauthkit._loopback import LoopbackServer

    ports = list(flags.auth_host_port or [0])
    try:
        server = LoopbackServer(flags.auth_host_name, ports, _loopback_path(flow))
    except OSError as exc:
        _say(
            out,
            f"Could not listen on {flags.auth_host_name} port(s) "
            f"{', '.join(map(str, ports))} ({exc.strerror or exc}); not using a local "
            "web server.",
        )
        return None
    with server:
        url = flow.step1_get_authorize_url(redirect_uri=server.redirect_uri)
        server.expect(flow.state)
        # Print first: webbrowser.open may block until the browser command exits.
        _say(out, "Your browser has been opened to visit:\n\n    " + url + "\n")
        _say(
            out,
            "If your browser is on a different machine, exit and re-run this application "
            "with the command-line parameter\n\n  --noauth_local_webserver\n",
        )
        try:
            opened = webbrowser.open(url, new=1, autoraise=True)
        except Exception:  # a broken $BROWSER must not end the flow: the URL is printed
            logging.getLogger("oauthkit").debug("webbrowser.open failed", exc_info=True)
            opened = False
        if not opened:
            _say(out, "Could not open a browser: open the URL above yourself.")
        _say(out, f"Waiting for the authorization response on {server.redirect_uri} ...")
        redirect = server.wait(timeout)
    _say(out, "Authentication successful.")
    return flow.step2_exchange(redirect, http=http)  # type: ignore[no-any-return]


def _start_device(flow: Any, http: Any, out: TextIO) -> Any:
    """Ask for a device code (RFC 8628 §3.1); ``None`` when the provider offers no device
    grant to this client (an error before the user saw a code)."""
    try:
        return flow.step1_get_device_and_user_codes(http=http)
    except (TokenEndpointError, ConfigurationError) as exc:
        _say(out, f"The device grant is not available ({exc.error}); using paste mode.")
        return None


def _run_device(flow: Any, info: Any, http: Any, out: TextIO) -> OAuth2Credentials:
    from oauthkit import _device

    _say(out, f"To sign in, visit:\n\n    {info.verification_url}\n")
    _say(out, f"and enter the code: {info.user_code}\n")
    _say(out, "Waiting for approval ...")
    credentials = _device.poll(flow, info, http=http)
    _say(out, "Authentication successful.")
    return credentials


def _run_paste(
    flow: Any, flags: argparse.Namespace, http: Any, out: TextIO, read_line: Callable[[], str]
) -> OAuth2Credentials:
    ports = [p for p in (flags.auth_host_port or []) if p] or [8080]
    host = "127.0.0.1" if flags.auth_host_name in ("localhost", "127.0.0.1") else "[::1]"
    redirect_uri = f"http://{host}:{ports[0]}{_loopback_path(flow)}"
    url = flow.step1_get_authorize_url(redirect_uri=redirect_uri)
    _say(out, "Go to the following link in a browser on any machine:\n\n    " + url + "\n")
    _say(
        out,
        "After you approve, the browser is sent to a page on 127.0.0.1 that will not load.\n"
        "Copy the FULL address of that page from the address bar and paste it here.",
    )
    expected = urlsplit(redirect_uri)
    for _ in range(3):
        _say(out, "Redirect URL: ")
        line = read_line().strip()
        if not line:
            raise AuthorizationError("no redirect URL was entered", error="cancelled")
        got = urlsplit(line)
        if (
            got.scheme not in ("http", "https")
            or got.path != expected.path
            or (got.hostname or "") not in ("127.0.0.1", "::1", "localhost")
            or not got.query
        ):
            _say(
                out,
                "That is not the address of the redirect page (it starts with "
                f"{redirect_uri}?...). Paste the whole URL from the address bar.",
            )
            continue
        credentials: OAuth2Credentials = flow.step2_exchange(line, http=http)
        _say(out, "Authentication successful.")
        return credentials
    raise AuthorizationError("no valid redirect URL was entered", error="cancelled")


def _stdin_line() -> str:
    line = sys.stdin.readline()
    if not line:
        raise AuthorizationError("no redirect URL was entered (end of input)", error="cancelled")
    return line


def run_flow(
    flow: Any,
    storage: Any,
    flags: argparse.Namespace | None = None,
    http: Any = None,
    *,
    out: TextIO | None = None,
    read_line: Callable[[], str] | None = None,
    timeout: float = 300.0,
) -> OAuth2Credentials:
    """Run ``flow`` to completion in this terminal, store the credentials in ``storage``
    (``storage.put(credentials)``, then ``credentials.set_store(storage)``) and return them.

    ``flags`` comes from a parser built with ``parents=[argparser]`` (defaults when
    ``None``); an extra ``flags.mode`` (``loopback``, ``device``, ``paste``) overrides the
    choice by environment. ``http`` is any supported HTTP client for the token requests.
    ``out`` (default stdout) receives the messages; ``read_line`` (default stdin) reads the
    pasted redirect URL; ``timeout`` bounds the wait for the loopback redirect.

    Raises :class:`~oauthkit.FlowExchangeError` (combined with the failure's class, say
    :class:`~oauthkit.AccessDeniedError`) or :class:`~oauthkit.AuthorizationError`.
    """
    if flags is None:
        flags = argparser.parse_args([])
    else:  # classic: the flags set the root logger's level
        import logging

        level = getattr(flags, "logging_level", None)
        if level:
            logging.getLogger().setLevel(getattr(logging, str(level)))
    out = out if out is not None else sys.stdout
    mode = choose_mode(flow, flags)
    credentials: OAuth2Credentials | None = None
    if mode == "loopback":
        credentials = _run_loopback(flow, flags, http, out, timeout)
        if credentials is None:
            mode = "device" if getattr(flow, "device_uri", None) else "paste"
    if credentials is None and mode == "device":
        info = _start_device(flow, http, out)
        if info is None:
            mode = "paste"
        else:
            credentials = _run_device(flow, info, http, out)
    if credentials is None and mode == "paste":
        credentials = _run_paste(flow, flags, http, out, read_line or _stdin_line)
    if credentials is None:
        raise ConfigurationError(f"unknown mode {mode!r}: use loopback, device or paste")
    if storage is not None:
        storage.put(credentials)
        credentials.set_store(storage)
    return credentials
