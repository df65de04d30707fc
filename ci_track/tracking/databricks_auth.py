"""Databricks credentials as the Databricks SDK (and so MLflow) resolves them, and OAuth M2M tokens.

`resolve` turns a `databricks` / `databricks://PROFILE` tracking URI plus the DATABRICKS_* variables
(read by TrackingSettings.from_env, handed in as `DatabricksEnvironment`) into a host and one way to
authenticate, following the SDK's unified-auth rules (databricks/sdk/config.py):

- the profile is the URI's (`databricks://PROFILE`), else DATABRICKS_CONFIG_PROFILE, else none;
- the variables win, attribute by attribute; a profile only fills in what they leave unset;
- without a named profile the file is skipped when the variables already give a host or a
  credential, and otherwise its [DEFAULT] section is used (when it has one);
- the file is DATABRICKS_CONFIG_FILE, else ~/.databrickscfg (INI: host, token, client_id,
  client_secret), and a token together with client credentials is an error, as in the SDK.

`OAuthM2M` is a `requests` auth hook for service principals: it gets an access token from
`<host>/oidc/v1/token` (client_credentials grant, scope all-apis, HTTP Basic client_id:client_secret),
keeps it for the invocation and fetches a new one shortly before it expires. Every secret it reads
or receives is registered with ci_track.secrets so that no message can show it.
"""

from __future__ import annotations

import configparser
import dataclasses
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests

from ci_track.errors import TrackingError, UsageError
from ci_track.secrets import remember_secret

DEFAULT_CONFIG_FILE = "~/.databrickscfg"
TOKEN_PATH = "/oidc/v1/token"  # noqa: S105 - a URL path, not a password
SCOPE = "all-apis"
# Fetch a new token this long before the old one expires, so no request leaves with a stale one.
EXPIRY_MARGIN = 60.0
_NO_DEFAULT_SECTION = "\0"  # makes [DEFAULT] an ordinary section: a profile is not merged with it


@dataclasses.dataclass(frozen=True, kw_only=True)
class DatabricksEnvironment:
    """The DATABRICKS_* variables that bear on authentication (empty values count as unset)."""

    host: str | None = None
    token: str | None = dataclasses.field(default=None, repr=False)
    client_id: str | None = None
    client_secret: str | None = dataclasses.field(default=None, repr=False)
    profile: str | None = None
    config_file: str = DEFAULT_CONFIG_FILE  # DATABRICKS_CONFIG_FILE, else ~/.databrickscfg of the HOME in use


@dataclasses.dataclass(frozen=True, kw_only=True)
class DatabricksCredentials:
    """A workspace host and how to authenticate there; `source` names where they came from, for messages."""

    host: str
    token: str | None = dataclasses.field(default=None, repr=False)
    client_id: str | None = None
    client_secret: str | None = dataclasses.field(default=None, repr=False)
    source: str = "the DATABRICKS_* variables"

    @property
    def uses_oauth(self) -> bool:
        return self.client_id is not None


def resolve(uri: str, env: DatabricksEnvironment) -> DatabricksCredentials:
    """Host and credentials for `databricks` / `databricks://PROFILE`; UsageError naming the profile or file."""
    profile = _profile_of(uri) or _clean(env.profile)
    values = {
        "host": _clean(env.host),
        "token": _clean(env.token),
        "client_id": _clean(env.client_id),
        "client_secret": _clean(env.client_secret),
    }
    path = Path(env.config_file).expanduser()
    source = "the DATABRICKS_* variables"
    from_environment = any(values.values())
    if profile is not None or not from_environment:
        if profile is not None and not path.exists() and values["host"]:
            # the SDK only logs a missing file: the variables alone may well be enough
            section_name, section = profile, None
        else:
            section_name, section = _read_profile(path, profile)
        if section is not None:
            source = f"profile {section_name!r} of {path}"
            for key in values:
                values[key] = values[key] or _clean(section.get(key))
    host = values["host"]
    if not host:
        if source.startswith("profile"):
            raise UsageError(f"Databricks {source} has no host: add `host = https://<workspace>` to it")
        # with credentials in the variables the SDK does not read the file either
        why = "the other DATABRICKS_* variables are set" if from_environment else f"{path} has no DEFAULT profile"
        raise UsageError(
            f"MLFLOW_TRACKING_URI is {uri!r} but DATABRICKS_HOST is not set and {why}: set DATABRICKS_HOST (and "
            "DATABRICKS_TOKEN or DATABRICKS_CLIENT_ID/DATABRICKS_CLIENT_SECRET), or name a profile (databricks://PROFILE)"
        )
    token, client_id, client_secret = values["token"], values["client_id"], values["client_secret"]
    if token and (client_id or client_secret):
        raise UsageError(
            f"Databricks credentials from {source} give both a token and client_id/client_secret (OAuth): keep one"
        )
    if bool(client_id) != bool(client_secret):
        missing = "client_secret" if client_id else "client_id"
        raise UsageError(
            f"Databricks credentials from {source} have no {missing}: OAuth machine-to-machine needs both "
            "client_id and client_secret (DATABRICKS_CLIENT_ID / DATABRICKS_CLIENT_SECRET)"
        )
    for secret in (token, client_secret):
        remember_secret(secret)
    return DatabricksCredentials(
        host=_normal_host(host, source),
        token=token,
        client_id=client_id,
        client_secret=client_secret,
        source=source,
    )


def _clean(value: str | None) -> str | None:
    value = (value or "").strip()
    return value or None


def _profile_of(uri: str) -> str | None:
    """`databricks://PROFILE` -> PROFILE; `databricks` -> None."""
    if uri == "databricks":
        return None
    name = uri.removeprefix("databricks://").rstrip("/")
    if not name:
        raise UsageError(f"tracking URI {uri!r} names no profile: write databricks://PROFILE, or just databricks")
    if ":" in name or "/" in name or "@" in name:
        # databricks://scope:prefix reads the credentials from Databricks secrets, only possible inside Databricks
        raise UsageError(
            f"tracking URI {uri!r} is not databricks://PROFILE (secret-scope URIs only work inside Databricks)"
        )
    return name


def _read_profile(path: Path, profile: str | None) -> tuple[str, Any]:
    """The named profile (error when missing), else [DEFAULT] if the file has one, else (name, None)."""
    parser = configparser.ConfigParser(default_section=_NO_DEFAULT_SECTION, interpolation=None)
    try:
        with path.open(encoding="utf-8") as handle:
            parser.read_file(handle)
    except FileNotFoundError:
        if profile is not None:
            raise UsageError(f"Databricks profile {profile!r}: {path} does not exist") from None
        return "DEFAULT", None
    except (OSError, UnicodeDecodeError) as error:
        raise UsageError(f"cannot read the Databricks configuration {path}: {type(error).__name__}") from None
    except configparser.Error as error:
        first_line = str(error).splitlines()[0]
        raise UsageError(f"{path} is not a Databricks configuration file (INI): {first_line}") from None
    if profile is None:
        # [__settings__] default_profile = NAME picks the profile used when none is named (SDK behaviour)
        chosen = _clean(parser.get("__settings__", "default_profile", fallback=None))
        if chosen is None:
            return ("DEFAULT", parser["DEFAULT"]) if parser.has_section("DEFAULT") else ("DEFAULT", None)
        profile = chosen
    if profile == "__settings__" or not parser.has_section(profile):
        known = [name for name in parser.sections() if name != "__settings__"]
        listed = f" (it has: {', '.join(known)})" if known else " (it has no profiles)"
        raise UsageError(f"Databricks profile {profile!r} is not in {path}{listed}")
    return profile, parser[profile]


def _normal_host(host: str, source: str) -> str:
    url = host if "://" in host else f"https://{host}"
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise UsageError(f"Databricks host {host!r} (from {source}) is not a workspace URL like https://<workspace>")
    # the SDK keeps only scheme://netloc: a pasted workspace URL with a path still works
    return f"{parts.scheme}://{parts.netloc}"


class OAuthM2M(requests.auth.AuthBase):
    """Bearer tokens for a service principal, fetched from the workspace's token endpoint and cached.

    A connection error or timeout reaching the endpoint propagates as the `requests` exception, so the
    client's retry loop retries it like any other; an answer that refuses becomes a TrackingError.
    """

    def __init__(
        self,
        credentials: DatabricksCredentials,
        session: requests.Session,
        *,
        timeout: float,
        verify: bool | str = True,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if credentials.client_id is None or credentials.client_secret is None:
            raise ValueError("OAuthM2M needs client_id and client_secret")
        self.credentials = credentials
        self.token_url = credentials.host + TOKEN_PATH
        self.token_requests = 0  # tests read it: one per invocation unless the token expired
        self._session = session
        self._timeout = timeout
        self._verify = verify
        self._clock = clock
        self._token: str | None = None
        self._token_type = "Bearer"  # noqa: S105 - the header scheme, not a password
        self._expires_at = 0.0

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"{self._token_type} {self.access_token()}"
        return request

    def access_token(self) -> str:
        if self._token is None or self._clock() >= self._expires_at - EXPIRY_MARGIN:
            self._fetch()
        assert self._token is not None
        return self._token

    def _fetch(self) -> None:
        started = self._clock()
        self.token_requests += 1
        response = self._session.post(
            self.token_url,
            data={"grant_type": "client_credentials", "scope": SCOPE},
            auth=(str(self.credentials.client_id), str(self.credentials.client_secret)),
            headers={"Accept": "application/json"},
            timeout=self._timeout,
            verify=self._verify,  # explicit, as for the API calls: REQUESTS_CA_BUNDLE must not override it
        )
        if response.status_code != 200:
            raise self._refusal(response)
        try:
            body = response.json()
            token = body["access_token"]
            expires_in = float(body.get("expires_in", 3600))
        except (ValueError, KeyError, TypeError):
            raise TrackingError(
                f"the Databricks token endpoint {self.token_url} answered without an access token "
                f"(credentials from {self.credentials.source})",
                url=self.credentials.host,
                status=response.status_code,
            ) from None
        if not isinstance(token, str) or not token:
            raise TrackingError(f"the Databricks token endpoint {self.token_url} sent an empty access token")
        remember_secret(token)
        self._token = token
        token_type = body.get("token_type")
        # the SDK sends `<token_type> <token>`; Databricks says "Bearer"
        usable = isinstance(token_type, str) and token_type.strip() and token_type.lower() != "bearer"
        self._token_type = token_type.strip() if usable else "Bearer"
        self._expires_at = started + expires_in

    def _refusal(self, response: requests.Response) -> TrackingError:
        reason = ""
        try:
            body = response.json()
            if isinstance(body, dict):
                reason = str(body.get("error") or body.get("errorCode") or "")
        except ValueError:
            pass
        what = "refused the client credentials" if response.status_code in (400, 401, 403) else "failed"
        detail = f"HTTP {response.status_code}{' ' + reason[:80] if reason else ''}"
        return TrackingError(
            f"the Databricks token endpoint {self.token_url} {what} ({detail}) for client_id "
            f"{self.credentials.client_id!r} from {self.credentials.source}",
            url=self.credentials.host,
            status=response.status_code,
        )
