"""A scripted user agent that plays the user at oidc-provider's devInteractions pages.

Plain HTTP (httpx, cookies kept, redirects followed by hand), no browser, no JavaScript. It only
ever talks to the issuer's origin on 127.0.0.1: the first redirect that leaves that origin is the
client's redirect URI, which :meth:`ScriptedUserAgent.authorize` returns without requesting it.

Pages it understands (oidc-provider 9, ``features.devInteractions``):

* login (``/interaction/<uid>``, hidden ``prompt=login``): any login and password are accepted,
  the login becomes the account id (``sub``);
* consent (hidden ``prompt=consent``): one "Continue" button only. Denying is done with the
  page's "[ Cancel ]" link (``/interaction/<uid>/abort``), which sends
  ``error=access_denied`` ("End-User aborted interaction") to the redirect URI;
* device flow: user-code input form, confirmation form (with an "[ Abort ]" button), the
  auto-submitting form of ``verification_uri_complete`` and the "Sign-in Success" page.

Other ways to get an error redirect: ``prompt=none`` without a session gives
``error=login_required``; a scope outside the client's ``scope`` metadata gives
``error=invalid_scope``; a public client without PKCE gets ``error=invalid_request``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import httpx

MAX_STEPS = 20
EXCERPT_CHARS = 400


class UserAgentError(RuntimeError):
    """The pages did not go the way the script expected."""


@dataclass
class Form:
    action: str
    method: str
    id: str | None
    fields: dict[str, str] = field(default_factory=dict)  # named inputs with their values
    hidden: dict[str, str] = field(default_factory=dict)  # type=hidden inputs only

    @property
    def prompt(self) -> str | None:
        return self.hidden.get("prompt")


@dataclass
class Page:
    title: str = ""
    forms: list[Form] = field(default_factory=list)
    links: list[tuple[str, str]] = field(default_factory=list)  # (href, text)
    error_messages: list[str] = field(default_factory=list)  # <p class="red"> (device pages)
    text: str = ""

    def form(self, *, prompt: str | None = None, form_id: str | None = None) -> Form | None:
        for form in self.forms:
            if prompt is not None and form.prompt != prompt:
                continue
            if form_id is not None and form.id != form_id:
                continue
            return form
        return None


class _PageParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.page = Page()
        self._form: Form | None = None
        self._in_title = False
        self._link: list[str] | None = None  # [href, text...]
        self._in_red = False
        self._red: list[str] = []
        self._text: list[str] = []
        self._skip = 0  # inside <style>/<script>

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag in ("style", "script"):
            self._skip += 1
        elif tag == "title":
            self._in_title = True
        elif tag == "form":
            self._form = Form(
                action=a.get("action", ""),
                method=(a.get("method") or "get").lower(),
                id=a.get("id"),
            )
            self.page.forms.append(self._form)
        elif tag == "input":
            self._input(a)
        elif tag == "a" and "href" in a:
            self._link = [a["href"]]
        elif tag == "p" and "red" in a.get("class", "").split():
            self._in_red = True
            self._red = []

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "input":
            self._input({k: v or "" for k, v in attrs})
        else:
            self.handle_starttag(tag, attrs)

    def _input(self, a: dict[str, str]) -> None:
        name = a.get("name")
        if self._form is None or not name:
            return
        value = a.get("value", "")
        self._form.fields[name] = value
        if a.get("type", "text").lower() == "hidden":
            self._form.hidden[name] = value

    def handle_endtag(self, tag: str) -> None:
        if tag in ("style", "script"):
            self._skip = max(0, self._skip - 1)
        elif tag == "title":
            self._in_title = False
        elif tag == "form":
            self._form = None
        elif tag == "a" and self._link is not None:
            href, *text = self._link
            self.page.links.append((href, " ".join("".join(text).split())))
            self._link = None
        elif tag == "p" and self._in_red:
            self.page.error_messages.append(" ".join("".join(self._red).split()))
            self._in_red = False

    def handle_data(self, data: str) -> None:
        if self._skip:
            return
        if self._in_title:
            self.page.title += data.strip()
        if self._link is not None:
            self._link.append(data)
        if self._in_red:
            self._red.append(data)
        self._text.append(data)

    def close(self) -> None:
        super().close()
        self.page.text = " ".join(" ".join(self._text).split())


def parse_page(html: str) -> Page:
    parser = _PageParser()
    parser.feed(html)
    parser.close()
    return parser.page


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    return parts.scheme, (parts.hostname or "").lower(), port


class ScriptedUserAgent:
    """Plays the user at one oidc-provider (``issuer`` = ``http://127.0.0.1:<port>``).

    Use as a context manager (or call :meth:`close`): it owns an ``httpx.Client``. Cookies are
    kept, so a second :meth:`authorize` reuses the login session, like a browser would.
    """

    def __init__(self, issuer: str, *, timeout: float = 10.0) -> None:
        scheme, host, _ = _origin(issuer)
        if scheme != "http" or host != "127.0.0.1":
            raise ValueError(f"ScriptedUserAgent only talks to http://127.0.0.1, not {issuer!r}")
        self.issuer = issuer.rstrip("/")
        self._origin = _origin(self.issuer)
        self.http = httpx.Client(follow_redirects=False, trust_env=False, timeout=timeout)
        self.history: list[str] = []  # "METHOD url -> status", for error messages

    # -- lifecycle ---------------------------------------------------------------------------

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> ScriptedUserAgent:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- public API --------------------------------------------------------------------------

    def authorize(
        self,
        authorization_url: str,
        *,
        login: str = "alice",
        password: str = "pw",
        consent: bool = True,
    ) -> str:
        """Open ``authorization_url``, log in and consent (or deny with ``consent=False``) and
        return the URL of the first redirect that leaves the issuer (the client's redirect URI
        with ``code``/``error``, ``state`` and ``iss``) without requesting it.

        ``consent=False`` presses "[ Cancel ]" on the consent page (the redirect then carries
        ``error=access_denied``); it has no effect when oidc-provider skips the consent page
        (a grant already covers the request and ``prompt=consent`` was not sent)."""
        self._require_issuer_url(authorization_url)
        response = self._request("GET", authorization_url)
        for _ in range(MAX_STEPS):
            if response.is_redirect:
                location = self._location(response)
                if not self._on_issuer(location):
                    return location
                response = self._request("GET", location)
                continue
            page = self._page(response)
            response = self._interaction_step(
                response, page, login=login, password=password, consent=consent
            )
        raise self._error("too many steps without reaching the redirect URI", response)

    def device_login(
        self,
        verification_uri: str,
        user_code: str | None = None,
        *,
        login: str = "alice",
        password: str = "pw",
        consent: bool = True,
    ) -> None:
        """Do the user's side of the device flow: open ``verification_uri`` (or
        ``verification_uri_complete`` with ``user_code=None``), enter the user code, confirm,
        log in and consent, up to oidc-provider's "Sign-in Success" page.

        With ``consent=False`` the user presses "[ Abort ]" on the confirmation page; the
        device's token polling then gets ``access_denied``."""
        self._require_issuer_url(verification_uri)
        response = self._request("GET", verification_uri)
        for _ in range(MAX_STEPS):
            if response.is_redirect:
                location = self._location(response)
                if not self._on_issuer(location):
                    raise self._error(
                        f"device flow redirected off the issuer to {location}", response
                    )
                response = self._request("GET", location)
                continue
            page = self._page(response)
            if page.title == "Sign-in Success":
                if not consent:
                    raise self._error("device sign-in succeeded although consent=False", response)
                return
            if page.error_messages:
                if not consent and any("interrupted" in m for m in page.error_messages):
                    return
                raise self._error(f"device page error: {page.error_messages[0]}", response)
            input_form = page.form(form_id="op.deviceInputForm")
            confirm_form = page.form(form_id="op.deviceConfirmForm")
            if input_form is not None:
                if user_code is None:
                    raise self._error(
                        "the device page asks for a user code; pass user_code", response
                    )
                response = self._submit(response, input_form, {"user_code": user_code})
            elif confirm_form is not None:
                extra = {"abort": "yes"} if not consent else {}
                response = self._submit(response, confirm_form, extra)
            elif page.title == "Submitting Callback" and len(page.forms) == 1:
                # verification_uri_complete: an auto-submitting form posting the user code.
                response = self._submit(response, page.forms[0], {})
            else:
                response = self._interaction_step(
                    response, page, login=login, password=password, consent=consent
                )
        raise self._error("too many steps in the device flow", response)

    # -- steps -------------------------------------------------------------------------------

    def _interaction_step(
        self,
        response: httpx.Response,
        page: Page,
        *,
        login: str,
        password: str,
        consent: bool,
    ) -> httpx.Response:
        login_form = page.form(prompt="login")
        if login_form is not None:
            return self._submit(response, login_form, {"login": login, "password": password})
        consent_form = page.form(prompt="consent")
        if consent_form is not None:
            if consent:
                return self._submit(response, consent_form, {})
            # devInteractions' consent page has only "Continue"; "[ Cancel ]" aborts.
            for href, _text in page.links:
                if re.search(r"/interaction/[^/]+/abort$", urlsplit(href).path):
                    url = urljoin(str(response.url), href)
                    self._require_issuer_url(url)
                    return self._request("GET", url)
            raise self._error("consent=False but the consent page has no abort link", response)
        if page.title == "Submitting Callback":
            raise self._error(
                "the response is an auto-submitting form_post page; use response_mode=query",
                response,
            )
        raise self._error("unexpected page", response)

    # -- helpers -----------------------------------------------------------------------------

    def _request(self, method: str, url: str, data: dict[str, str] | None = None) -> httpx.Response:
        self._require_issuer_url(url)
        response = self.http.request(method, url, data=data)
        self.history.append(f"{method} {url} -> {response.status_code}")
        return response

    def _submit(
        self, response: httpx.Response, form: Form, extra: dict[str, str]
    ) -> httpx.Response:
        action = urljoin(str(response.url), form.action or str(response.url))
        if not self._on_issuer(action):
            raise self._error(f"form posts off the issuer, to {action}", response)
        data = {**form.fields, **extra}
        if form.method == "post":
            return self._request("POST", action, data)
        raise self._error(f"unexpected form method {form.method!r}", response)

    def _page(self, response: httpx.Response) -> Page:
        content_type = response.headers.get("content-type", "")
        if response.status_code != 200 or "html" not in content_type:
            raise self._error("unexpected response", response)
        return parse_page(response.text)

    def _location(self, response: httpx.Response) -> str:
        location: str | None = response.headers.get("location")
        if not location:
            raise self._error("redirect without Location", response)
        return urljoin(str(response.url), location)

    def _on_issuer(self, url: str) -> bool:
        return _origin(url) == self._origin

    def _require_issuer_url(self, url: str) -> None:
        if not self._on_issuer(url):
            raise UserAgentError(f"refusing to request {url!r}: not on {self.issuer}")

    def _error(self, message: str, response: httpx.Response) -> UserAgentError:
        text = response.text
        if "html" in response.headers.get("content-type", ""):
            page = parse_page(text)
            text = page.text
        excerpt = " ".join(text.split())[:EXCERPT_CHARS]
        steps = "\n  ".join(self.history[-8:])
        return UserAgentError(
            f"{message}: HTTP {response.status_code} at {response.request.method} "
            f"{response.url}\n  excerpt: {excerpt!r}\n  last steps:\n  {steps}"
        )
