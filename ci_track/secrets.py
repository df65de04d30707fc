"""Keeps tokens out of everything ci-track prints or writes.

Every message that leaves the process (errors, logs, reports, spool files) goes through
`redact`, which replaces the values of the known secret variables with `***`, and the secrets
that do not live in a variable (a token read from ~/.databrickscfg, an OAuth access token fetched
at run time) once `remember_secret` has been told about them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

SECRET_VARIABLES = (
    "GITHUB_TOKEN",
    "GH_TOKEN",
    "INPUT_GITHUB-TOKEN",
    "CI_TRACK_GITHUB_TOKEN",
    "MLFLOW_TRACKING_TOKEN",
    "MLFLOW_TRACKING_PASSWORD",
    "DATABRICKS_TOKEN",
    "DATABRICKS_CLIENT_SECRET",
    "JENKINS_TOKEN",
    "JENKINS_PASSWORD",
    "GITLAB_TOKEN",
    "CI_TRACK_GITLAB_TOKEN",
    "CI_TRACK_BITBUCKET_TOKEN",
    "CI_JOB_TOKEN",
)

# user:password@ in a URL, e.g. https://x-access-token:TOKEN@github.com/owner/repo.git
_URL_CREDENTIALS = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)[^/@\s]+@")
_MIN_SECRET_LENGTH = 4  # shorter values would blank out ordinary words
_REMEMBERED: set[str] = set()  # secrets of this process that are in no variable


def remember_secret(value: str | None) -> None:
    """Redact `value` from now on, whatever environment `redact` is given."""
    if value and len(value) >= _MIN_SECRET_LENGTH:
        _REMEMBERED.add(value)


def secret_values(environ: Mapping[str, str] | None = None) -> list[str]:
    if environ is None:
        from ci_track.settings import live_environment  # settings imports this module

        environ = live_environment()
    env = environ
    values = {env[name] for name in SECRET_VARIABLES if len(env.get(name, "")) >= _MIN_SECRET_LENGTH}
    return sorted(values | _REMEMBERED, key=len, reverse=True)


def strip_url_credentials(url: str) -> str:
    """`https://user:token@host/x` -> `https://host/x`."""
    return _URL_CREDENTIALS.sub(lambda m: m.group("scheme"), url)


def redact(text: str, environ: Mapping[str, str] | None = None) -> str:
    text = strip_url_credentials(text)
    for value in secret_values(environ):
        text = text.replace(value, "***")
    return text
