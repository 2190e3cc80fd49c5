"""The reference page's last step, as printed: ``build('calendar', 'v3',
http=credentials.authorize(httplib2.Http()))`` and a call through the service, using the
discovery document google-api-python-client ships, its endpoint pointed at a local server."""

from __future__ import annotations

import httplib2
from googleapiclient.discovery import build

from tests.conftest import expired_credentials
from tests.scripted_server import ScriptedServer


def test_calendar_service_through_authorized_http(server: ScriptedServer) -> None:
    server.protected_prefixes = ("/calendar",)
    credentials = expired_credentials(server)
    http = httplib2.Http()
    try:
        http = credentials.authorize(http)
        service = build(
            "calendar",
            "v3",
            http=http,
            static_discovery=True,
            client_options={"api_endpoint": server.url + "/calendar/v3/"},
        )
        result = service.events().list(calendarId="primary", maxResults=5).execute()
        assert result["ok"] is True
        # the access token had expired: one refresh, then the call with the new token
        (call,) = server.requests_to("/calendar/v3/calendars/primary/events")
        assert call.headers["authorization"] == "Bearer at-1"
        assert "maxResults=5" in call.path and "at-1" not in call.path
        assert server.count("/token") == 1
        # the server drops the token: the next call refreshes once and is replayed
        server.access_tokens = set()
        created = service.events().insert(calendarId="primary", body={"summary": "x"}).execute()
        assert created["method"] == "POST" and '"summary": "x"' in created["body"]
        assert server.count("/token") == 2
    finally:
        http.close()
