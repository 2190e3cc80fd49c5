"""``oauthkit demo``: the whole story, against oauthkit.testing's local server."""

from __future__ import annotations

import json
from typing import Any, TextIO

from oauthkit._credentials import OAuth2Credentials
from oauthkit._errors import OAuthError
from oauthkit._redact import fingerprint
from oauthkit._webflow import OAuth2WebServerFlow

REDIRECT_URI = "http://127.0.0.1/callback"


def _protected_call(credentials: OAuth2Credentials, url: str, transport: str) -> dict[str, Any]:
    if transport == "httplib2":
        import httplib2

        http = credentials.authorize(httplib2.Http())
        try:
            resp, content = http.request(url)
            status, body = int(resp.status), content
        finally:
            http.close()
    elif transport == "requests":
        import requests

        with credentials.authorize(requests.Session()) as session:
            r = session.get(url)
            status, body = r.status_code, r.content
    else:
        import httpx

        with credentials.authorize(httpx.Client()) as client:
            r = client.get(url)
            status, body = r.status_code, r.content
    if status != 200:
        raise RuntimeError(f"the protected endpoint answered HTTP {status}")
    data: dict[str, Any] = json.loads(body)
    return data


def run_demo(transport: str, out: TextIO) -> int:
    try:
        import httpx

        from oauthkit.testing import LocalAuthorizationServer
    except ImportError as exc:
        print(
            f"oauthkit demo needs the 'testing' extra: pip install 'oauthkit[testing]' ({exc})",
            file=out,
        )
        return 2

    def step(n: int, text: str) -> None:
        print(f"[{n}] {text}", file=out, flush=True)

    with LocalAuthorizationServer(access_token_lifetime=3600) as server:
        server.register_client("demo-app", "demo-secret", redirect_uris=[REDIRECT_URI])
        step(1, f"local authorization server at {server.issuer}")
        flow = OAuth2WebServerFlow(
            "demo-app",
            "demo-secret",
            "profile email offline_access",
            redirect_uri=REDIRECT_URI,
            auth_uri=server.authorization_endpoint,
            token_uri=server.token_endpoint,
            revoke_uri=server.revocation_endpoint,
            issuer=server.issuer,
            require_iss=True,
        )
        url = flow.step1_get_authorize_url()
        step(2, f"authorization URL (PKCE S256, state bound to the flow):\n    {url}")
        with httpx.Client(follow_redirects=False) as browser:
            redirect = browser.get(url).headers["location"]
        step(
            3,
            "the user logged in and consented; redirected back to the app:\n    "
            + redirect.split("?")[0]
            + "?code=...&state=...&iss=...",
        )
        try:
            credentials = flow.step2_exchange(redirect)
            step(
                4,
                f"code exchanged: access token {fingerprint(credentials.access_token)}, "
                f"refresh token {fingerprint(credentials.refresh_token)}, "
                f"expires {credentials.token_expiry:%H:%M:%S} UTC, "
                f"scopes {' '.join(sorted(credentials.scopes))}",
            )
            data = _protected_call(credentials, server.api_endpoint, transport)
            step(5, f"protected call through {transport}: HTTP 200, sub={data.get('sub')!r}")
            before = credentials.refresh_token
            credentials.refresh()
            rotated = "rotated" if credentials.refresh_token != before else "kept"
            step(
                6,
                f"refreshed: new access token {fingerprint(credentials.access_token)}, "
                f"refresh token {rotated}",
            )
            credentials.revoke()
            step(7, "revoked the grant at the server; the credentials are now invalid")
            try:
                _protected_call(credentials, server.api_endpoint, transport)
            except OAuthError as exc:
                step(8, f"calling again is refused: {exc.error} -> the user must authorize again")
            else:
                print("unexpected: the revoked grant still works", file=out)
                return 1
        except OAuthError as exc:
            print(f"demo failed: {type(exc).__name__}: {exc}", file=out)
            return 1
    step(9, "done: every step used the real protocol over HTTP on 127.0.0.1")
    return 0
