"""A ``$BROWSER`` for tests without Chromium: ``python scripted_browser.py URL``.

Plays the user at oidc-provider with :class:`ScriptedUserAgent` (login, consent), then
follows the redirect to the app's loopback server over real HTTP, as a browser would.
With ``OAUTHKIT_TEST_HOSTILE=1`` it first attacks the loopback server (wrong path, wrong
and missing state, a connection that never finishes its request) and afterwards sends a
second callback; each status is appended to ``$OAUTHKIT_TEST_BROWSER_LOG`` (one
``label status`` a line). Exits 0 at once on success (``webbrowser.open`` waits for it).
"""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import httpx

from tests.oidc.useragent import ScriptedUserAgent


def main(url: str) -> int:
    log_path = os.environ.get("OAUTHKIT_TEST_BROWSER_LOG")
    hostile = os.environ.get("OAUTHKIT_TEST_HOSTILE") == "1"
    lines: list[str] = []
    parts = urlsplit(url)
    issuer = f"{parts.scheme}://{parts.netloc}"
    with ScriptedUserAgent(issuer) as agent:
        redirect = agent.authorize(url)
    target = urlsplit(redirect)
    base = f"{target.scheme}://{target.netloc}"
    params = dict(parse_qsl(target.query))
    stalled: socket.socket | None = None
    with httpx.Client(trust_env=False, timeout=10.0) as http:
        if hostile:
            stalled = socket.create_connection((target.hostname or "", target.port or 80))
            stalled.sendall(b"GET " + target.path.encode() + b"?code=x")
            for label, query in (
                ("wrong-path", f"/nope?{target.query}"),
                ("missing-state", f"{target.path}?code={params['code']}"),
                ("wrong-state", f"{target.path}?code=evil&state=forged"),
            ):
                lines.append(f"{label} {http.get(base + query).status_code}")
        lines.append(f"callback {http.get(redirect).status_code}")
        if hostile:  # the server may already be closed: both outcomes refuse it
            try:
                lines.append(f"second-callback {http.get(redirect).status_code}")
            except httpx.TransportError:
                lines.append("second-callback closed")
    if stalled is not None:
        stalled.close()
    if log_path:
        with open(log_path, "a", encoding="utf-8") as log:
            log.write("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
