"""The ``oauthkit`` command (also ``python -m oauthkit``).

::

    oauthkit login  [--profile P] (--client-secrets FILE | --client-id ID (--issuer URL |
                    --auth-uri URL --token-uri URL) ...) --scope S [--mode M]
    oauthkit token  [--profile P]           a valid access token (refreshed if needed)
    oauthkit header [--profile P]           "Authorization: Bearer ..." (RFC 6750 §2.1)
    oauthkit curl   [--profile P] -- ARGS   curl with that header added
    oauthkit status [--profile P]           profile, scopes, expiry; never the token
    oauthkit revoke [--profile P]           revoke at the provider (RFC 7009), forget here
    oauthkit logout [--profile P]           forget here only
    oauthkit list                           every profile
    oauthkit demo                           the whole story against a local server

``login`` picks the loopback redirect (RFC 8252), the device grant (RFC 8628) or paste
mode by environment (see :mod:`oauthkit.tools`); ``--mode`` forces one. Credentials live
in the embedded store (SQLite in the user's config directory, 0600; see ``_profiles``).
Every command takes ``--json``.

Exit codes: 0 success; 1 an OAuth or storage failure; 2 a usage or configuration error;
3 the user must authorize again (no credentials, revoked, ``invalid_grant``); 4 a network
failure.

``oauthkit token`` with a cached valid token reads one SQLite row and prints: it imports
neither an HTTP client nor the credentials machinery (fast start).
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False  # typing loads only under a type checker (fast start)

if TYPE_CHECKING:
    import argparse
    from collections.abc import Sequence

__all__ = [
    "EXIT_ERROR",
    "EXIT_NETWORK",
    "EXIT_OK",
    "EXIT_REAUTH",
    "EXIT_USAGE",
    "main",
]

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_REAUTH = 3
EXIT_NETWORK = 4

DEFAULT_PROFILE = "default"


class CommandError(Exception):
    """A failure to report as ``oauthkit: error: <message>`` with an exit code."""

    def __init__(self, message: str, code: int = EXIT_ERROR) -> None:
        super().__init__(message)
        self.code = code


def _common(json_flag: bool = True) -> argparse.ArgumentParser:
    import argparse

    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument(
        "--profile",
        default=os.environ.get("OAUTHKIT_PROFILE") or DEFAULT_PROFILE,
        help="credentials profile (default: $OAUTHKIT_PROFILE or 'default')",
    )
    if json_flag:
        parent.add_argument("--json", action="store_true", help="machine-readable output")
    return parent


def _parser() -> argparse.ArgumentParser:
    import argparse

    from oauthkit import tools

    parser = argparse.ArgumentParser(
        prog="oauthkit", description="OAuth 2.0 and OpenID Connect from the command line."
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    common = _common()

    login = sub.add_parser(
        "login",
        parents=[common, tools.argparser],
        help="authorize and store credentials under a profile",
        description="Authorize in a browser (loopback redirect), with the device grant, or "
        "by pasting the redirect URL, then store the credentials under --profile. Settings "
        "are remembered: 'oauthkit login --profile P' again needs no other option.",
    )
    login.add_argument("--client-secrets", metavar="FILE", help="a client_secrets.json file")
    login.add_argument(
        "--service-account",
        metavar="KEYFILE",
        help="a service-account JSON key file (RFC 7523 JWT bearer; no browser, no user)",
    )
    login.add_argument(
        "--adc",
        action="store_true",
        help="Application Default Credentials ($GOOGLE_APPLICATION_CREDENTIALS, gcloud's file)",
    )
    login.add_argument("--client-id")
    login.add_argument(
        "--client-secret",
        help="the client secret (native apps usually have none; prefer --client-secrets)",
    )
    login.add_argument("--issuer", help="issuer URL; endpoints come from its discovery document")
    login.add_argument("--auth-uri", help="authorization endpoint")
    login.add_argument("--token-uri", help="token endpoint")
    login.add_argument("--device-uri", help="device authorization endpoint (RFC 8628)")
    login.add_argument("--revoke-uri", help="revocation endpoint (RFC 7009)")
    login.add_argument(
        "--scope", action="append", help="scope(s) to request (repeat, or space-separated)"
    )
    login.add_argument("--prompt", help="the prompt parameter, e.g. consent")
    login.add_argument(
        "--mode",
        choices=tools.MODES,
        default="auto",
        help="how to authorize (default auto: loopback with a browser here, else device grant "
        "when the provider has one, else paste)",
    )
    login.add_argument(
        "--timeout", type=float, default=300.0, help="seconds to wait for the browser"
    )

    for name, text in (
        ("token", "print a valid access token (refreshing it if needed)"),
        ("header", "print the Authorization header line"),
        ("status", "show the profile's scopes and expiry (never the token)"),
        ("revoke", "revoke the grant at the provider and forget it here"),
        ("logout", "forget the profile's credentials here (no server call)"),
    ):
        sub.add_parser(name, parents=[common], help=text, description=text)
    curl = sub.add_parser(
        "curl",
        parents=[_common(json_flag=False)],
        help="run curl with the Authorization header added",
        description="Run curl with 'Authorization: Bearer <token>' added (the header is "
        "passed in a 0600 file, never on a command line). Example: oauthkit curl -- -s URL",
    )
    curl.add_argument("curl_args", nargs=argparse.REMAINDER, help="arguments for curl")
    sub.add_parser(
        "list", parents=[_common()], help="list profiles", description="List every profile."
    )

    sub.add_parser(
        "migrate",
        help="convert oauth2client credential stores into oauthkit stores",
        description="oauthkit migrate SOURCE... --to sqlite:PATH|file:PATH (see "
        "'oauthkit migrate --help'). SOURCE is an oauth2client file.Storage, multistore or "
        "multiprocess file, or keyring:SERVICE:USER; nothing named in a file is imported.",
        add_help=False,
    )
    demo = sub.add_parser(
        "demo",
        help="run a complete flow against a local authorization server",
        description="Start a local authorization server, then build a flow, log in with "
        "automatic consent, exchange the code, call a protected endpoint, refresh and revoke, "
        "printing each step. Needs the 'testing' extra.",
    )
    demo.add_argument(
        "--transport",
        choices=["httpx", "requests", "httplib2"],
        default="httpx",
        help="HTTP client for the protected call (default: httpx)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (argparse exits 2 on usage errors)."""
    from oauthkit.cli._fast import fast_main

    args_list = list(sys.argv[1:] if argv is None else argv)
    code = fast_main(args_list)
    if code is not None:  # a cached valid token: printed without argparse or HTTP
        return code
    if args_list[:1] == ["migrate"]:  # its own parser: oauthkit.storage.main
        from oauthkit.storage import main as migrate_main

        return migrate_main(args_list[1:])
    args = _parser().parse_args(argv)
    if args.command == "demo":
        from oauthkit.cli._demo import run_demo

        return run_demo(args.transport, out=sys.stdout)
    from oauthkit.cli import _commands

    try:
        return _commands.dispatch(args)
    except CommandError as exc:
        _error(str(exc), getattr(args, "json", False))
        return exc.code
    except KeyboardInterrupt:
        _error("interrupted", getattr(args, "json", False))
        return 130
    except Exception as exc:
        code, message = _commands.classify(exc)
        if code is None:
            raise
        _error(message, getattr(args, "json", False))
        return code


def _error(message: str, as_json: bool) -> None:
    if as_json:
        import json

        print(json.dumps({"error": message}), file=sys.stderr)
    else:
        print(f"oauthkit: error: {message}", file=sys.stderr)
