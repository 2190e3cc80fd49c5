"""The ``oauthkit`` subcommands (see :mod:`oauthkit.cli`).

Tokens are printed only by ``token``, ``header`` (their purpose) and handed to ``curl`` in
a 0600 file; ``status``, ``list`` and every message show fingerprints at most.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
from typing import Any

from oauthkit.cli import (
    EXIT_ERROR,
    EXIT_NETWORK,
    EXIT_OK,
    EXIT_REAUTH,
    EXIT_USAGE,
    CommandError,
)
from oauthkit.cli._fast import cached_token as _cached_token
from oauthkit.cli._profiles import ProfileDB, ProfileStorage

EXPIRY_FORMAT = "%Y-%m-%dT%H:%M:%SZ"  # the classic credentials JSON's token_expiry


def dispatch(args: argparse.Namespace) -> int:
    command = args.command
    if command == "token":
        return cmd_token(args)
    if command == "header":
        return cmd_token(args, header=True)
    if command == "curl":
        return cmd_curl(args)
    if command == "status":
        return cmd_status(args)
    if command == "list":
        return cmd_list(args)
    if command == "logout":
        return cmd_logout(args)
    if command == "revoke":
        return cmd_revoke(args)
    if command == "login":
        return cmd_login(args)
    raise CommandError(f"unknown command {command!r}", EXIT_USAGE)  # pragma: no cover


def classify(exc: BaseException) -> tuple[int | None, str]:
    """The exit code and message for an exception (``None``: not ours, re-raise)."""
    from oauthkit._errors import (
        AccessTokenCredentialsError,
        ConfigurationError,
        InvalidGrantError,
        OAuthError,
        TransportError,
    )

    if not isinstance(exc, OAuthError):
        return None, ""
    name = type(exc).__name__
    if isinstance(exc, (InvalidGrantError, AccessTokenCredentialsError)) or exc.error in (
        "no_refresh_token",
        "invalid_grant",
    ):
        return EXIT_REAUTH, f"{exc.error}: {exc} -> run 'oauthkit login' again"
    if isinstance(exc, TransportError):
        return EXIT_NETWORK, f"network failure: {exc}"
    if isinstance(exc, ConfigurationError):
        return EXIT_USAGE, f"{exc}"
    return EXIT_ERROR, f"{name} ({exc.error}): {exc}"


# --- reading credentials ------------------------------------------------------------------


def _db() -> ProfileDB:
    return ProfileDB()


def _no_credentials(profile: str) -> CommandError:
    return CommandError(
        f"no credentials for profile {profile!r}: run 'oauthkit login --profile {profile}'",
        EXIT_REAUTH,
    )


def _load(profile: str) -> Any:
    storage = ProfileStorage(_db(), profile)
    credentials = storage.get()
    if credentials is None:
        raise _no_credentials(profile)
    return credentials


def _valid_token(profile: str) -> tuple[str, int | None]:
    fast = _cached_token(profile)
    if fast is not None:
        return fast
    db = _db()
    row = db.read(profile)
    if row is not None and row[1].get("source") in ("service_account", "adc"):
        credentials = _from_source(row[1])
        db.write(profile, credentials.to_json())  # the token cache for the fast path
        info = credentials.get_access_token()
        return info.access_token, info.expires_in
    credentials = _load(profile)
    if credentials.invalid and not credentials.refresh_token:
        raise CommandError(
            f"the credentials of profile {profile!r} were revoked or rejected: run "
            f"'oauthkit login --profile {profile}'",
            EXIT_REAUTH,
        )
    info = credentials.get_access_token()  # refreshes under the store's lock (single-flight)
    return info.access_token, info.expires_in


# --- commands -----------------------------------------------------------------------------


def cmd_token(args: argparse.Namespace, header: bool = False) -> int:
    token, left = _valid_token(args.profile)
    if args.json:
        out: dict[str, Any] = {"token_type": "Bearer", "expires_in": left}
        if header:
            out["header"] = f"Authorization: Bearer {token}"
        else:
            out["access_token"] = token
        print(json.dumps(out))
    elif header:
        print(f"Authorization: Bearer {token}")
    else:
        print(token)
    return EXIT_OK


def cmd_curl(args: argparse.Namespace) -> int:
    import shutil
    import subprocess
    import tempfile

    curl = shutil.which("curl")
    if curl is None:
        raise CommandError("curl is not on PATH", EXIT_USAGE)
    extra = list(args.curl_args)
    if extra and extra[0] == "--":
        extra = extra[1:]
    if not extra:
        raise CommandError("nothing to fetch: oauthkit curl -- [curl options] URL", EXIT_USAGE)
    token, _ = _valid_token(args.profile)
    # The header goes through a 0600 file (`-H @file`, curl >= 7.55): a command line is
    # visible to every user of the machine (ps), a file is not.
    fd, path = tempfile.mkstemp(prefix="oauthkit-", suffix=".hdr")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(f"Authorization: Bearer {token}\n")
        proc = subprocess.run([curl, "-H", f"@{path}", *extra], check=False)  # noqa: S603
    finally:
        os.unlink(path)
    return proc.returncode


def _describe(profile: str, credentials: Any) -> dict[str, Any]:
    from oauthkit._redact import fingerprint

    expiry = credentials.token_expiry
    now = datetime.datetime.now(datetime.timezone.utc)
    id_token = credentials.id_token or {}
    return {
        "profile": profile,
        "client_id": credentials.client_id,
        "subject": id_token.get("sub") or getattr(credentials, "service_account_email", None),
        "issuer": id_token.get("iss"),
        "scopes": sorted(credentials.scopes),
        "expiry": expiry.strftime(EXPIRY_FORMAT) if expiry else None,
        "expires_in": int((expiry - now).total_seconds()) if expiry else None,
        "expired": bool(expiry and expiry <= now),
        "refresh_token": credentials.refresh_token is not None,
        "invalid": bool(credentials.invalid),
        "access_token_fingerprint": fingerprint(credentials.access_token),
        "token_uri": credentials.token_uri,
    }


def cmd_status(args: argparse.Namespace) -> int:
    credentials = _load(args.profile)
    info = _describe(args.profile, credentials)
    db = _db()
    row = db.read(args.profile)
    info["source"] = (row[1].get("source") if row else None) or "user"
    info["store"] = str(db.path)
    if args.json:
        print(json.dumps(info))
    else:
        state = (
            "INVALID (authorize again)"
            if info["invalid"]
            else ("expired" if info["expired"] else f"valid for {info['expires_in']} s")
        )
        print(f"profile:       {info['profile']}")
        print(f"client:        {info['client_id']}")
        if info["subject"]:
            print(f"subject:       {info['subject']} ({info['issuer']})")
        print(f"scopes:        {' '.join(info['scopes'])}")
        print(f"expiry:        {info['expiry']} UTC ({state})")
        print(f"refresh token: {'yes' if info['refresh_token'] else 'no'}")
        print(f"store:         {info['store']}")
    renewable = info["refresh_token"] or info["source"] != "user"
    if info["invalid"] or (info["expired"] and not renewable):
        return EXIT_REAUTH
    return EXIT_OK


def cmd_list(args: argparse.Namespace) -> int:
    db = _db()
    rows = []
    for name in db.names():
        storage = ProfileStorage(db, name)
        try:
            credentials = storage.get()
        except Exception:  # a corrupt row must not hide the others
            rows.append({"profile": name, "error": "unreadable"})
            continue
        if credentials is None:
            rows.append({"profile": name, "error": "no credentials"})
            continue
        rows.append(_describe(name, credentials))
    if args.json:
        print(json.dumps(rows))
        return EXIT_OK
    if not rows:
        print("no profiles: run 'oauthkit login'", file=sys.stderr)
    for row in rows:
        if "error" in row:
            print(f"{row['profile']}\t({row['error']})")
            continue
        state = "invalid" if row["invalid"] else ("expired" if row["expired"] else "valid")
        print(f"{row['profile']}\t{row['client_id']}\t{state}\t{' '.join(row['scopes'])}")
    return EXIT_OK


def cmd_logout(args: argparse.Namespace) -> int:
    removed = _db().delete(args.profile)
    message = (
        f"forgot the credentials of profile {args.profile!r} (not revoked at the provider: "
        "use 'oauthkit revoke' for that)"
        if removed
        else f"no credentials for profile {args.profile!r}"
    )
    if args.json:
        print(json.dumps({"profile": args.profile, "removed": removed}))
    else:
        print(message)
    return EXIT_OK


def cmd_revoke(args: argparse.Namespace) -> int:
    credentials = _load(args.profile)
    credentials.revoke()  # RFC 7009; deletes from the store whatever the server answers
    if args.json:
        print(json.dumps({"profile": args.profile, "revoked": True}))
    else:
        print(f"revoked the grant of profile {args.profile!r} and forgot it here")
    return EXIT_OK


# --- login --------------------------------------------------------------------------------


def _client_settings(args: argparse.Namespace, saved: dict[str, Any]) -> dict[str, Any]:
    settings = dict(saved)
    if args.client_secrets:
        from oauthkit import clientsecrets

        _, info = clientsecrets.loadfile(args.client_secrets)
        settings = {
            "client_id": info["client_id"],
            "client_secret": info.get("client_secret") or None,
            "auth_uri": info["auth_uri"],
            "token_uri": info["token_uri"],
            "revoke_uri": info.get("revoke_uri"),
            "device_uri": info.get("device_uri"),
            "issuer": info.get("issuer"),
            "token_endpoint_auth_method": info.get("token_endpoint_auth_method"),
        }
        redirects = [u for u in info.get("redirect_uris", []) if u.startswith("http://")]
        if redirects:
            settings["redirect_uri"] = redirects[0]
    for name in ("client_id", "client_secret", "issuer", "auth_uri", "token_uri"):
        value = getattr(args, name)
        if value:
            settings[name] = value
    for name in ("device_uri", "revoke_uri", "prompt"):
        value = getattr(args, name)
        if value:
            settings[name] = value
    if args.scope:
        settings["scope"] = " ".join(" ".join(args.scope).split())
    if not settings.get("client_id"):
        raise CommandError(
            "login needs a client: --client-secrets FILE, or --client-id with --issuer "
            "(discovery) or --auth-uri and --token-uri",
            EXIT_USAGE,
        )
    if settings.get("issuer") and not (settings.get("auth_uri") and settings.get("token_uri")):
        _discover(settings)
    if not (settings.get("auth_uri") and settings.get("token_uri")):
        raise CommandError("login needs --auth-uri and --token-uri (or --issuer)", EXIT_USAGE)
    if not settings.get("scope"):
        raise CommandError("login needs --scope (e.g. --scope 'openid email')", EXIT_USAGE)
    return settings


def _discover(settings: dict[str, Any]) -> None:
    """Fill the endpoints from the issuer's discovery document (OIDC Discovery §4)."""
    import importlib

    try:
        discovery = importlib.import_module("oauthkit._discovery")
    except ImportError:
        raise CommandError(
            "discovery is not available in this version: pass --auth-uri and --token-uri",
            EXIT_USAGE,
        ) from None
    metadata = discovery.discover(settings["issuer"])
    for key, name in (
        ("auth_uri", "authorization_endpoint"),
        ("token_uri", "token_endpoint"),
        ("device_uri", "device_authorization_endpoint"),
        ("revoke_uri", "revocation_endpoint"),
    ):
        if not settings.get(key) and metadata.get(name):
            settings[key] = metadata.get(name)


def _from_source(settings: dict[str, Any]) -> Any:
    """Credentials from a service-account key file or ADC (``settings["source"]``), with a
    valid token. The stored JSON of service-account credentials holds no private key, so
    the key file (or ADC's search) is read again whenever a new token is needed."""
    scopes = settings.get("scope") or None
    if settings["source"] == "service_account":
        from oauthkit._service_account import ServiceAccountCredentials

        credentials: Any = ServiceAccountCredentials.from_json_keyfile_name(
            settings["keyfile"], scopes or ""
        )
    else:
        from oauthkit._adc import default

        credentials, _project = default(scopes)
    credentials.get_access_token()
    return credentials


def _login_without_user(args: argparse.Namespace) -> tuple[Any, dict[str, Any]]:
    scopes = " ".join(" ".join(args.scope or []).split())
    if args.service_account:
        if not scopes:
            raise CommandError("--service-account needs --scope", EXIT_USAGE)
        settings = {
            "source": "service_account",
            "keyfile": os.path.abspath(args.service_account),
            "scope": scopes,
        }
    else:
        settings = {"source": "adc", "scope": scopes}
    return _from_source(settings), settings


def _finish_login(args: argparse.Namespace, credentials: Any, settings: dict[str, Any]) -> int:
    db = _db()
    storage = ProfileStorage(db, args.profile)
    storage.acquire_lock()
    try:
        db.write(args.profile, credentials.to_json(), settings)
    finally:
        storage.release_lock()
    credentials.set_store(storage)
    info = _describe(args.profile, credentials)
    if args.json:
        print(json.dumps(info))
    else:
        who = f" as {info['subject']}" if info["subject"] else ""
        print(
            f"logged in{who}: profile {args.profile!r}, scopes {' '.join(info['scopes'])}, "
            f"token valid until {info['expiry']} UTC, refresh token "
            f"{'yes' if info['refresh_token'] else 'no'}"
        )
    return EXIT_OK


def cmd_login(args: argparse.Namespace) -> int:
    from oauthkit import tools
    from oauthkit._webflow import OAuth2WebServerFlow

    if args.service_account or args.adc:
        if args.service_account and args.adc:
            raise CommandError("use --service-account or --adc, not both", EXIT_USAGE)
        credentials, settings = _login_without_user(args)
        return _finish_login(args, credentials, settings)
    db = _db()
    row = db.read(args.profile)
    settings = _client_settings(args, row[1] if row else {})
    options: dict[str, Any] = {
        "auth_uri": settings["auth_uri"],
        "token_uri": settings["token_uri"],
        "revoke_uri": settings.get("revoke_uri"),
        "device_uri": settings.get("device_uri"),
        "token_info_uri": None,
        "redirect_uri": settings.get("redirect_uri"),
    }
    if settings.get("issuer"):
        options["issuer"] = settings["issuer"]
    if settings.get("prompt"):
        options["prompt"] = settings["prompt"]
    if settings.get("token_endpoint_auth_method"):
        options["token_endpoint_auth_method"] = settings["token_endpoint_auth_method"]
    flow = OAuth2WebServerFlow(
        settings["client_id"], settings.get("client_secret"), settings["scope"], **options
    )
    credentials = tools.run_flow(flow, None, args, out=sys.stderr, timeout=args.timeout)
    return _finish_login(args, credentials, settings)
