"""The ``oauthkit`` command.

``oauthkit demo`` runs the whole authorization-code story against a local authorization
server, printing each step. Exit codes: 0 success, 1 an OAuth failure, 2 a usage error.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="oauthkit", description="OAuth 2.0 and OpenID Connect from the command line."
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
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
    """Run the command line; returns the exit code."""
    args = _parser().parse_args(argv)
    if args.command == "demo":
        from oauthkit.cli._demo import run_demo

        return run_demo(args.transport, out=sys.stdout)
    return 2  # pragma: no cover - argparse rejects unknown commands first
