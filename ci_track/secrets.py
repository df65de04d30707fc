"""Keeps tokens out of everything ci-track prints or writes.

Every message that leaves the process (errors, logs, reports, spool files) goes through
`redact`, which replaces the values of the known secret variables with `***`.
"""

from __future__ import annotations

import os
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
    "JENKINS_TOKEN",
    "JENKINS_PASSWORD",
    "GITLAB_TOKEN",
    "CI_JOB_TOKEN",
)

# user:password@ in a URL, e.g. https://x-access-token:TOKEN@github.com/owner/repo.git
_URL_CREDENTIALS = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)[^/@\s]+@")
_MIN_SECRET_LENGTH = 4  # shorter values would blank out ordinary words


def secret_values(environ: Mapping[str, str] | None = None) -> list[str]:
    env = os.environ if environ is None else environ
    values = {env[name] for name in SECRET_VARIABLES if len(env.get(name, "")) >= _MIN_SECRET_LENGTH}
    return sorted(values, key=len, reverse=True)


def strip_url_credentials(url: str) -> str:
    """`https://user:token@host/x` -> `https://host/x`."""
    return _URL_CREDENTIALS.sub(lambda m: m.group("scheme"), url)


def redact(text: str, environ: Mapping[str, str] | None = None) -> str:
    text = strip_url_credentials(text)
    for value in secret_values(environ):
        text = text.replace(value, "***")
    return text
