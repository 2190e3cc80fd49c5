"""Application Default Credentials: Google's way of finding credentials for a program.

Searched in order (as google-auth and oauth2client do):

1. the file named by ``GOOGLE_APPLICATION_CREDENTIALS`` (``authorized_user`` or
   ``service_account`` JSON);
2. gcloud's well-known file, ``application_default_credentials.json`` in the gcloud
   configuration directory (``$CLOUDSDK_CONFIG``, else ``~/.config/gcloud``, or
   ``%APPDATA%\\gcloud`` on Windows);
3. the GCE metadata server (``http://169.254.169.254``, or ``$GCE_METADATA_HOST``): a
   request carrying ``Metadata-Flavor: Google`` whose answer carries it too.

:func:`default` is the modern entry point, ``GoogleCredentials.get_application_default``
the classic one.
"""

from __future__ import annotations

import datetime
import json
import os
import secrets
from collections.abc import Iterable, Mapping
from typing import Any

from oauthkit import _drivers
from oauthkit._credentials import (
    GOOGLE_REVOKE_URI,
    GOOGLE_TOKEN_URI,
    Credentials,
    OAuth2Credentials,
    _load_json,
    _parse_expiry,
    _register,
    string_to_scopes,
)
from oauthkit._errors import ConfigurationError, InvalidResponseError, OAuthError, TransportError
from oauthkit._flows import token_flow
from oauthkit._models import Request, Token
from oauthkit._service_account import SERVICE_ACCOUNT, ServiceAccountCredentials

__all__ = [
    "AUTHORIZED_USER",
    "ENV_CREDENTIALS",
    "ApplicationDefaultCredentialsError",
    "GceCredentials",
    "GoogleCredentials",
    "default",
    "save_to_well_known_file",
    "well_known_file",
]

AUTHORIZED_USER = "authorized_user"
ENV_CREDENTIALS = "GOOGLE_APPLICATION_CREDENTIALS"
ENV_METADATA_HOST = "GCE_METADATA_HOST"
ENV_PROJECT = "GOOGLE_CLOUD_PROJECT"
WELL_KNOWN_NAME = "application_default_credentials.json"
METADATA_DEFAULT_HOST = "169.254.169.254"
METADATA_FLAVOR = {"metadata-flavor": "Google"}
_TOKEN_PATH = "/computeMetadata/v1/instance/service-accounts/default/token"
_PROJECT_PATH = "/computeMetadata/v1/project/project-id"


class ApplicationDefaultCredentialsError(ConfigurationError):
    """(classic) No Application Default Credentials were found, or the file is unusable."""

    default_error = "no_application_default_credentials"


def well_known_file() -> str:
    """Where gcloud keeps the user's application default credentials."""
    config = os.environ.get("CLOUDSDK_CONFIG")
    if not config:
        if os.name == "nt":
            config = os.path.join(os.environ.get("APPDATA", ""), "gcloud")
        else:
            config = os.path.join(os.path.expanduser("~"), ".config", "gcloud")
    return os.path.join(config, WELL_KNOWN_NAME)


def _metadata_base() -> str:
    host = os.environ.get(ENV_METADATA_HOST) or METADATA_DEFAULT_HOST
    return f"http://{host}"


def _is_metadata_response(headers: Mapping[str, str]) -> bool:
    return headers.get("metadata-flavor") == "Google"


@_register
class GoogleCredentials(OAuth2Credentials):
    """(classic) A Google user's credentials (gcloud's ``authorized_user``), and the
    entry point of Application Default Credentials."""

    def __init__(
        self,
        access_token: str | None,
        client_id: str | None,
        client_secret: str | None,
        refresh_token: str | None,
        token_expiry: datetime.datetime | None,
        token_uri: str | None,
        user_agent: str | None,
        revoke_uri: str | None = GOOGLE_REVOKE_URI,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            access_token,
            client_id,
            client_secret,
            refresh_token,
            token_expiry,
            token_uri,
            user_agent,
            revoke_uri=revoke_uri,
            **kwargs,
        )

    def create_scoped_required(self) -> bool:
        """User credentials carry the scopes they were granted (classic: ``False``)."""
        return False

    def create_scoped(self, scopes: str | Iterable[str]) -> GoogleCredentials:
        return self

    @property
    def serialization_data(self) -> dict[str, Any]:
        """The ``authorized_user`` document gcloud writes (holds the refresh token)."""
        return {
            "type": AUTHORIZED_USER,
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "refresh_token": self.refresh_token,
        }

    @classmethod
    def from_json(cls, json_data: str | bytes | Mapping[str, Any]) -> GoogleCredentials:
        base = OAuth2Credentials.from_json(json_data)
        creds = cls(
            base.access_token,
            base.client_id,
            base.client_secret,
            base.refresh_token,
            base.token_expiry,
            base.token_uri,
            base.user_agent,
            revoke_uri=base.revoke_uri,
        )
        creds.invalid = base.invalid
        creds.scopes = set(base.scopes)
        return creds

    @staticmethod
    def get_application_default(http: Any = None) -> Credentials:
        """The Application Default Credentials (see the module docstring). Raises
        :class:`ApplicationDefaultCredentialsError` when none are found."""
        creds, _project = _find(http)
        return creds

    @staticmethod
    def from_stream(credential_filename: str) -> Credentials:
        """Credentials from an ``authorized_user`` or ``service_account`` JSON file."""
        return _from_file(credential_filename)


@_register
class GceCredentials(OAuth2Credentials):
    """The default service account of a GCE/GKE/Cloud Run instance, from the metadata
    server (classic ``AppAssertionCredentials``). Tokens are fetched with
    ``Metadata-Flavor: Google``, and an answer without that header is refused."""

    def __init__(
        self,
        scopes: str | Iterable[str] | None = None,
        *,
        metadata_base: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(None, None, None, None, None, None, None, scopes=scopes, **kwargs)
        self.metadata_base = metadata_base or _metadata_base()

    def create_scoped_required(self) -> bool:
        return False

    def create_scoped(self, scopes: str | Iterable[str]) -> GceCredentials:
        return GceCredentials(scopes, metadata_base=self.metadata_base)

    @property
    def service_account_email(self) -> str:
        return "default"

    def _refresh_flow(self) -> _drivers.Flow[Token]:
        url = self.metadata_base + _TOKEN_PATH
        if self.scopes:
            url += "?scopes=" + ",".join(sorted(self.scopes))

        def make_request() -> Request:
            return Request("GET", url, dict(METADATA_FLAVOR))

        return _metadata_token_flow(token_flow(make_request, self._clock, self._retry))

    def revoke(self, http: Any = None) -> None:
        """Metadata-server tokens cannot be revoked by the instance."""
        raise ConfigurationError("GCE credentials cannot be revoked")

    @classmethod
    def from_json(cls, json_data: str | bytes | Mapping[str, Any]) -> GceCredentials:
        data = _load_json(json_data)
        creds = cls(data.get("scopes"), metadata_base=data.get("metadata_base"))
        creds.access_token = data.get("access_token")
        creds.token_expiry = _parse_expiry(data.get("token_expiry"))
        return creds


def _metadata_token_flow(flow: _drivers.Flow[Token]) -> _drivers.Flow[Token]:
    """``flow``, refusing any answer that lacks ``Metadata-Flavor: Google``."""
    step = next(flow)
    while True:
        response = yield step
        if response is not None and not _is_metadata_response(response.headers):
            raise InvalidResponseError(
                "the metadata server's answer lacks Metadata-Flavor: Google",
                status=response.status,
            )
        try:
            step = flow.send(response)
        except StopIteration as stop:
            token: Token = stop.value
            return token


def _from_dict(data: Mapping[str, Any], where: str) -> Credentials:
    kind = data.get("type")
    if kind == AUTHORIZED_USER:
        try:
            creds = GoogleCredentials(
                None,
                data["client_id"],
                data["client_secret"],
                data["refresh_token"],
                None,
                data.get("token_uri") or GOOGLE_TOKEN_URI,
                "Python client library",
            )
        except KeyError as exc:
            raise ApplicationDefaultCredentialsError(
                f"{where} lacks {exc.args[0]!r}", error="invalid_credentials_file"
            ) from None
        creds.quota_project_id = data.get("quota_project_id")  # type: ignore[attr-defined]
        return creds
    if kind == SERVICE_ACCOUNT:
        try:
            return ServiceAccountCredentials.from_json_keyfile_dict(data)
        except ConfigurationError as exc:
            raise ApplicationDefaultCredentialsError(
                f"{where}: {exc.description}", error="invalid_credentials_file"
            ) from None
    raise ApplicationDefaultCredentialsError(
        f"{where} has type {str(kind)[:40]!r}; expected {AUTHORIZED_USER!r} or {SERVICE_ACCOUNT!r}",
        error="invalid_credentials_file",
    )


def _from_file(path: str) -> Credentials:
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except OSError as exc:
        raise ApplicationDefaultCredentialsError(
            f"cannot read the credentials file {path} ({exc.strerror})",
            error="invalid_credentials_file",
        ) from None
    except ValueError:
        raise ApplicationDefaultCredentialsError(
            f"the credentials file {path} is not JSON", error="invalid_credentials_file"
        ) from None
    if not isinstance(data, dict):
        raise ApplicationDefaultCredentialsError(
            f"the credentials file {path} is not a JSON object", error="invalid_credentials_file"
        )
    return _from_dict(data, f"the credentials file {path}")


def _on_gce(http: Any) -> bool:
    """Ping the metadata server: true only if it answers with ``Metadata-Flavor: Google``."""
    request = Request("GET", _metadata_base() + "/", dict(METADATA_FLAVOR))
    try:
        response = _drivers.to_transport(http).send(request)
    except (TransportError, OAuthError):
        return False
    return response.status == 200 and _is_metadata_response(response.headers)


def _gce_project(http: Any) -> str | None:
    request = Request("GET", _metadata_base() + _PROJECT_PATH, dict(METADATA_FLAVOR))
    try:
        response = _drivers.to_transport(http).send(request)
    except OAuthError:
        return None
    if response.status != 200 or not _is_metadata_response(response.headers):
        return None
    return response.body.decode("utf-8", "replace").strip() or None


def _project_of(creds: Credentials) -> str | None:
    return getattr(creds, "project_id", None)


def _find(http: Any) -> tuple[Credentials, str | None]:
    env_path = os.environ.get(ENV_CREDENTIALS)
    if env_path:
        creds = _from_file(env_path)
        return creds, os.environ.get(ENV_PROJECT) or _file_project(env_path)
    path = well_known_file()
    if os.path.isfile(path):
        return _from_file(path), os.environ.get(ENV_PROJECT) or _file_project(path)
    if _on_gce(http):
        return GceCredentials(), os.environ.get(ENV_PROJECT) or _gce_project(http)
    raise ApplicationDefaultCredentialsError(
        "Application Default Credentials are not available: set "
        f"{ENV_CREDENTIALS} to a key file, run `gcloud auth application-default login`, "
        "or run on Google Cloud"
    )


def _file_project(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    value = data.get("project_id") or data.get("quota_project_id")
    return value if isinstance(value, str) else None


def default(
    scopes: str | Iterable[str] | None = None, http: Any = None
) -> tuple[Credentials, str | None]:
    """Application Default Credentials and the project they belong to (modern face, as
    ``google.auth.default``). Service accounts get ``scopes``; user and GCE credentials
    keep theirs. Raises :class:`ApplicationDefaultCredentialsError` when none are found."""
    creds, project = _find(http)
    wanted = string_to_scopes(scopes)
    if wanted and isinstance(creds, (ServiceAccountCredentials, GceCredentials)):
        creds = creds.create_scoped(wanted)
    return creds, project


def save_to_well_known_file(credentials: Any, well_known_file_path: str | None = None) -> None:
    """(classic) Write ``credentials`` (their ``serialization_data``: an
    ``authorized_user`` or ``service_account`` document) to gcloud's well-known file, or
    to ``well_known_file_path``: created 0600, written atomically, symlinks refused."""
    data = getattr(credentials, "serialization_data", None)
    if not isinstance(data, dict):
        raise ConfigurationError("these credentials cannot be saved as application defaults")
    path = well_known_file_path or well_known_file()
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, mode=0o700, exist_ok=True)
    if os.path.islink(path):
        raise ConfigurationError(f"refusing to write through the symbolic link {path}")
    temp = os.path.join(directory, f".{os.path.basename(path)}.{secrets.token_hex(6)}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(temp, flags, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(json.dumps(data, indent=2, sort_keys=True).encode("utf-8"))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(temp, path)
    except BaseException:
        if os.path.exists(temp):
            os.unlink(temp)
        raise
