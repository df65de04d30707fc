"""What the tracking server can do, from its version: one cheap probe per client, never a failed call.

ci-track supports MLflow tracking servers from 2.9 to the newest 3.x. A few of the requests it
would like to send are newer than that (see README, "Supported MLflow servers"):

- `tags.<key> IS NULL` in a run search (runs lacking a tag) exists from MLflow **3.11**; older
  servers answer it with INVALID_PARAMETER_VALUE. `MlflowClient.search_runs_lacking` filters the
  rest server-side and drops the tagged runs client-side; only when many tagged runs come first
  does it ask the version, to let a 3.11+ server filter them or to page further on an older one:
  the same runs, in the same order, on every server.
- LoggedModels (`models:/<model_id>` sources, `run.outputs`) exist from MLflow **3.0**; an older
  server never returns them, so `promote` registers `runs:/<run_id>/<artifact path>` instead.

The version comes from `GET <tracking URI>/version`, which every MLflow server (2.x and 3.x)
answers with the plain version string (before the host check of 3.x; an auth server wants the
same credentials as for the API, which the client sends). It is asked once per client, lazily,
the first time a version-dependent request is about to be made (most `compare` runs never ask).
Databricks is never probed: its managed MLflow is the newest generation, so it keeps getting the
requests it always got. A server without the endpoint, or one answering something that is not a
version (a managed MLflow behind its own front end), is taken as the newest generation too, so
its behaviour does not change. A probe that gets no usable answer (connection error, timeout,
5xx, 401/403) makes the client use the requests every generation accepts, which give the same
results.
"""

from __future__ import annotations

import dataclasses
import re
from urllib.parse import urlsplit

import requests

# First MLflow versions with each capability (checked in mlflow/utils/search_utils.py of the releases).
TAG_IS_NULL_SINCE = (3, 11)  # VALID_TAG_COMPARATORS gained "IS NULL"/"IS NOT NULL" for runs in 3.11.0
LOGGED_MODELS_SINCE = (3, 0)
OLDEST_TESTED = (2, 9)  # README, "Supported MLflow servers"; older servers get the same requests, untested

_VERSION = re.compile(r"^(\d+)\.(\d+)(?:\.(\d+))?(?:[.+-]?[0-9A-Za-z.+-]*)?$")
_DATABRICKS_HOSTS = (".databricks.com", ".azuredatabricks.net", ".databricks.azure.cn", ".databricks.us")


@dataclasses.dataclass(frozen=True, kw_only=True)
class ServerCapabilities:
    """What one tracking server accepts. `version` is None when the server did not say."""

    version: tuple[int, int, int] | None
    newest: bool  # no version known, but the newest generation is assumed (Databricks, no /version)
    description: str  # in words, for messages: "MLflow 2.9.2", "Databricks (newest MLflow assumed)"

    @property
    def tag_is_null(self) -> bool:
        """`tags.<key> IS NULL` is accepted in runs/search."""
        return self._at_least(TAG_IS_NULL_SINCE)

    @property
    def logged_models(self) -> bool:
        """Runs may carry LoggedModels and model versions may come from `models:/<model_id>`."""
        return self._at_least(LOGGED_MODELS_SINCE)

    def _at_least(self, since: tuple[int, int]) -> bool:
        if self.version is None:
            return self.newest
        return self.version[:2] >= since


def parse_version(text: str) -> tuple[int, int, int] | None:
    """`3.17.2` -> (3, 17, 2); `2.22.0rc1`, `2.9.2.dev0` keep their numbers; anything else -> None."""
    match = _VERSION.match(text.strip())
    if match is None:
        return None
    major, minor, patch = match.group(1), match.group(2), match.group(3) or "0"
    return int(major), int(minor), int(patch)


def from_version(version: tuple[int, int, int]) -> ServerCapabilities:
    return ServerCapabilities(version=version, newest=False, description="MLflow " + ".".join(map(str, version)))


def is_databricks(uri: str) -> bool:
    """A Databricks workspace (the `databricks` URIs resolve to its https host before we get here)."""
    if uri == "databricks" or uri.startswith("databricks://"):
        return True
    host = (urlsplit(uri).hostname or "").lower()
    return host.endswith(_DATABRICKS_HOSTS)


DATABRICKS = ServerCapabilities(version=None, newest=True, description="Databricks (newest MLflow assumed)")
NO_VERSION_ENDPOINT = ServerCapabilities(
    version=None, newest=True, description="a tracking server without MLflow's /version endpoint (newest assumed)"
)


def unanswered(reason: str) -> ServerCapabilities:
    return ServerCapabilities(
        version=None, newest=False, description=f"a tracking server whose version is unknown ({reason})"
    )


def probe(session: requests.Session, uri: str, *, timeout: float, verify: bool | str) -> ServerCapabilities:
    """Ask `<uri>/version` once (no retries: an unanswered probe costs nothing but a few extra requests).

    Never called for Databricks (see MlflowClient: its capabilities are DATABRICKS from the start).
    """
    try:
        response = session.get(uri.rstrip("/") + "/version", timeout=min(timeout, 10.0), verify=verify)
    except requests.exceptions.RequestException as error:
        return unanswered(type(error).__name__)
    if response.status_code in (404, 405):
        return NO_VERSION_ENDPOINT
    if response.status_code >= 400:  # 5xx, 429, or credentials the endpoint refused: nothing learnt
        return unanswered(f"HTTP {response.status_code} on /version")
    version = parse_version(response.text[:64]) if len(response.content) <= 64 else None
    return NO_VERSION_ENDPOINT if version is None else from_version(version)
