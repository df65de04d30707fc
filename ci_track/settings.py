"""The one place ci-track reads its own process environment, and the settings built from it.

Every command starts with `settings.environment()`: a read-only snapshot of the variables,
taken once, that is handed down as a plain `Mapping` to everything below `commands/` (the
tracking client's settings, the CI context, the GitHub settings, the rules' overrides). Nothing
below `commands/` reads `os.environ`; a test builds the same mapping by hand.

The only other reader is the process runner (ci_track/training/process.py), and only to give the
training command the environment it would have had without ci-track.

The typed settings of the adapters are built here too, each from the snapshot, with secrets out
of their repr: `TrackingSettings.from_env` (the MLflow client's variables, and the DATABRICKS_*
ones for a `databricks` URI), `GitHubSettings.from_env` (the token, repository and API URL),
`GitLabSettings.from_env` (CI_TRACK_GITLAB_TOKEN or GITLAB_TOKEN, never CI_JOB_TOKEN; CI_API_V4_URL
or CI_SERVER_URL; the MR's project) and `BitbucketSettings.from_env` (CI_TRACK_BITBUCKET_TOKEN,
CI_TRACK_BITBUCKET_API_URL, BITBUCKET_REPO_FULL_NAME); `forge_override` reads CI_TRACK_FORGE, and
`ForgeHttpSettings.from_env` every forge's CI_TRACK_FORGE_TIMEOUT, _ATTEMPTS and _MAX_WAIT.
A bad value is one `UsageError` naming the variable.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

from ci_track.errors import UsageError
from ci_track.secrets import strip_url_credentials
from ci_track.vocabulary import FORGES

if TYPE_CHECKING:
    from ci_track.tracking.databricks_auth import DatabricksCredentials, DatabricksEnvironment

KILL_GRACE_SECONDS = 10.0  # SIGTERM -> SIGKILL for the training command's process group


def environment() -> Mapping[str, str]:
    """A read-only snapshot of the environment (secrets inside: never printed; see secrets.redact)."""
    return MappingProxyType(dict(os.environ))


def live_environment() -> Mapping[str, str]:
    """The environment as it is now, for redaction of messages written at any time (secrets.py)."""
    return os.environ


def kill_grace(environ: Mapping[str, str]) -> float:
    """CI_TRACK_KILL_GRACE: seconds between SIGTERM and SIGKILL for an interrupted training command."""
    return float(environ.get("CI_TRACK_KILL_GRACE", KILL_GRACE_SECONDS))


@dataclasses.dataclass(frozen=True, kw_only=True)
class TrackingSettings:
    """How to reach the tracking server; built from the environment by `from_env`."""

    uri: str
    username: str | None = None
    password: str | None = dataclasses.field(default=None, repr=False)
    token: str | None = dataclasses.field(default=None, repr=False)
    verify: bool | str = True
    client_cert: str | None = None
    timeout: float = 30.0  # seconds per request
    max_attempts: int = 6  # attempts per call, the first included
    retry_budget: float = 60.0  # seconds a call may spend retrying before it gives up
    ui_base: str | None = None  # where run links point (Databricks differs from the API host)
    databricks: DatabricksCredentials | None = None  # OAuth M2M, and what the child needs
    child_uri: str | None = None  # the training command's MLFLOW_TRACKING_URI when it is not `uri`

    @classmethod
    def from_env(cls, environ: Mapping[str, str], *, uri: str | None = None) -> TrackingSettings:
        raw_uri = (uri or environ.get("MLFLOW_TRACKING_URI") or "").strip()
        if not raw_uri:
            raise UsageError(
                "no tracking server: set MLFLOW_TRACKING_URI (or --tracking-uri) to your MLflow server's http(s) URL"
            )
        token = environ.get("MLFLOW_TRACKING_TOKEN") or None
        ui_base = databricks = child_uri = None
        if raw_uri == "databricks" or raw_uri.startswith("databricks://"):
            from ci_track.tracking import databricks_auth

            databricks = databricks_auth.resolve(raw_uri, _databricks_environment(environ))
            # the training script's MLflow client resolves the same profile or variables itself
            child_uri = raw_uri
            raw_uri = databricks.host
            token = databricks.token or (None if databricks.uses_oauth else token)
            ui_base = raw_uri + "/ml"
        parts = urlsplit(raw_uri)
        # on Databricks the MLflow client ignores these too: a Basic pair would only displace the token
        username = None if databricks else environ.get("MLFLOW_TRACKING_USERNAME") or None
        password = None if databricks else environ.get("MLFLOW_TRACKING_PASSWORD") or None
        if parts.username is not None or parts.password is not None:
            # user:password@ in the URI works like the variables, but never travels on in the URI
            username = username or unquote(parts.username or "") or None
            password = password or unquote(parts.password or "") or None
            raw_uri = strip_url_credentials(raw_uri)
            parts = urlsplit(raw_uri)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise UsageError(
                f"tracking URI {raw_uri!r} is not an http(s) URL: ci-track talks to an MLflow tracking server "
                "over REST (file:, sqlite: and other local stores are not supported)"
            )
        cert_path = _existing_file(environ, "MLFLOW_TRACKING_SERVER_CERT_PATH")
        insecure = environ.get("MLFLOW_TRACKING_INSECURE_TLS", "").lower() in ("1", "true", "yes")
        return cls(
            uri=raw_uri.rstrip("/"),
            username=username,
            password=password,
            token=token,
            verify=False if insecure else (cert_path or True),
            client_cert=_existing_file(environ, "MLFLOW_TRACKING_CLIENT_CERT_PATH"),
            timeout=positive_number(environ, "CI_TRACK_HTTP_TIMEOUT", 30.0),
            max_attempts=max(1, int(positive_number(environ, "CI_TRACK_HTTP_ATTEMPTS", 6))),
            retry_budget=positive_number(environ, "CI_TRACK_RETRY_BUDGET", 60.0),
            ui_base=ui_base,
            databricks=databricks,
            child_uri=child_uri,
        )


def _databricks_environment(environ: Mapping[str, str]) -> DatabricksEnvironment:
    """The variables the Databricks SDK reads for authentication (see databricks_auth.resolve)."""
    from ci_track.tracking.databricks_auth import DatabricksEnvironment

    home = environ.get("HOME") or os.path.expanduser("~")
    return DatabricksEnvironment(
        host=environ.get("DATABRICKS_HOST"),
        token=environ.get("DATABRICKS_TOKEN"),
        client_id=environ.get("DATABRICKS_CLIENT_ID"),
        client_secret=environ.get("DATABRICKS_CLIENT_SECRET"),
        profile=environ.get("DATABRICKS_CONFIG_PROFILE"),
        config_file=environ.get("DATABRICKS_CONFIG_FILE") or os.path.join(home, ".databrickscfg"),
    )


def _existing_file(environ: Mapping[str, str], name: str) -> str | None:
    path = environ.get(name) or None
    if path is not None and not os.path.isfile(path):
        raise UsageError(f"{name} points at {path}, which is not a readable file")
    return path


def positive_number(environ: Mapping[str, str], name: str, default: float) -> float:
    """A positive, finite number from `name`; unset or empty means `default`, anything else is a usage error."""
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise UsageError(f"{name} must be a positive number, got {raw!r}") from None
    if not value > 0 or math.isinf(value):
        raise UsageError(f"{name} must be a positive number, got {raw!r}")
    return value


DEFAULT_API_URL = "https://api.github.com"


TOKEN_VARIABLES = ("CI_TRACK_GITHUB_TOKEN", "GITHUB_TOKEN", "GH_TOKEN")  # first one set wins


_REPOSITORY = re.compile(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+")


@dataclasses.dataclass(frozen=True, kw_only=True)
class GitHubSettings:
    """Where and as whom to talk to GitHub; built from the environment by `from_env`."""

    token: str = dataclasses.field(repr=False)
    repository: str  # "owner/name"
    api_url: str = DEFAULT_API_URL  # GitHub Enterprise: https://HOST/api/v3
    pr_number: int | None = None
    head_sha: str | None = None  # the PR head, never the synthetic merge commit
    timeout: int = 30  # seconds per request
    max_attempts: int = 5  # per request, the first included
    max_wait: float = 600.0  # longest single wait for a rate limit before giving up

    def __post_init__(self) -> None:
        if not _REPOSITORY.fullmatch(self.repository):
            raise UsageError(f"GitHub repository must be 'owner/name', got {self.repository!r}")
        if not self.api_url.startswith(("http://", "https://")):
            raise UsageError(f"GITHUB_API_URL must be an http(s) URL, got {self.api_url!r}")

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str],
        *,
        repository: str | None = None,
        pr_number: int | None = None,
        head_sha: str | None = None,
    ) -> GitHubSettings:
        token = _first_set(environ, TOKEN_VARIABLES)
        if not token:
            raise UsageError(
                "no GitHub token: set GITHUB_TOKEN (in a workflow: `env: GITHUB_TOKEN: ${{ github.token }}`) "
                "or CI_TRACK_GITHUB_TOKEN"
            )
        repository = repository or environ.get("GITHUB_REPOSITORY", "").strip()
        if not repository:
            raise UsageError("no GitHub repository: set GITHUB_REPOSITORY to 'owner/name'")
        http = ForgeHttpSettings.from_env(environ)
        return cls(
            token=token,
            repository=repository,
            api_url=(environ.get("GITHUB_API_URL") or DEFAULT_API_URL).strip().rstrip("/"),
            pr_number=pr_number,
            head_sha=head_sha,
            timeout=int(http.timeout),
            max_attempts=http.max_attempts,
            max_wait=http.max_wait,
        )


# --- GitLab and Bitbucket ------------------------------------------------------------------

GITLAB_TOKEN_VARIABLES = ("CI_TRACK_GITLAB_TOKEN", "GITLAB_TOKEN")  # first one set wins; never CI_JOB_TOKEN
BITBUCKET_TOKEN_VARIABLES = ("CI_TRACK_BITBUCKET_TOKEN",)
DEFAULT_GITLAB_API_URL = "https://gitlab.com/api/v4"
DEFAULT_BITBUCKET_API_URL = "https://api.bitbucket.org/2.0"

# GitLab project paths may be nested (group/sub/proj); Bitbucket repositories are workspace/slug.
_GITLAB_PROJECT = re.compile(r"[0-9]+|[A-Za-z0-9_.-]+(?:/[A-Za-z0-9_.-]+)+")
_BITBUCKET_REPOSITORY = re.compile(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+|\{[0-9a-fA-F-]+\}/\{[0-9a-fA-F-]+\}")
_GITLAB_PROJECT_VARIABLES = ("CI_TRACK_GITLAB_PROJECT", "CI_MERGE_REQUEST_PROJECT_ID", "CI_PROJECT_ID")


class MissingForgeToken(UsageError):
    """No token for GitLab or Bitbucket: publishing is skipped with a warning (fork MRs have none)."""


def forge_override(environ: Mapping[str, str]) -> str | None:
    """CI_TRACK_FORGE: github | gitlab | bitbucket | none (what `--forge` says; the flag wins)."""
    value = environ.get("CI_TRACK_FORGE", "").strip().lower()
    if not value:
        return None
    if value not in FORGES:
        raise UsageError(f"CI_TRACK_FORGE must be one of {', '.join(FORGES)}, got {value!r}")
    return value


def has_forge_token(environ: Mapping[str, str], forge: str) -> bool:
    """Whether the token `forge` needs is at hand (what makes the comment and the status the default on a PR)."""
    if forge == "github":  # as before there were other forges: any non-empty value counts
        return any(environ.get(name) for name in TOKEN_VARIABLES)
    return bool(_first_set(environ, _REST_TOKEN_VARIABLES.get(forge, ())))


_REST_TOKEN_VARIABLES = {"gitlab": GITLAB_TOKEN_VARIABLES, "bitbucket": BITBUCKET_TOKEN_VARIABLES}


def _first_set(environ: Mapping[str, str], names: tuple[str, ...]) -> str:
    return next((environ[name].strip() for name in names if environ.get(name, "").strip()), "")


def _rest_forge_token(environ: Mapping[str, str], forge: str) -> str:
    """The token of `forge` (gitlab | bitbucket): the first of its variables that is set, else MissingForgeToken."""
    token = _first_set(environ, _REST_TOKEN_VARIABLES[forge])
    if not token:
        raise MissingForgeToken(missing_token_message(environ, forge))
    return token


def _http_url(environ: Mapping[str, str], name: str, value: str) -> str:
    if not value.startswith(("http://", "https://")):
        raise UsageError(f"{name} must be an http(s) URL, got {value!r}")
    return value.rstrip("/")


@dataclasses.dataclass(frozen=True, kw_only=True)
class ForgeHttpSettings:
    """What every forge adapter shares (GitHub, GitLab, Bitbucket): timeouts and the retry limits.

    CI_TRACK_FORGE_TIMEOUT, _ATTEMPTS and _MAX_WAIT. Their names from before there were other forges,
    CI_TRACK_GITHUB_*, are still read (for every forge) where the CI_TRACK_FORGE_* one is not set.
    """

    timeout: float = 30.0
    max_attempts: int = 5
    max_wait: float = 600.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> ForgeHttpSettings:
        def knob(suffix: str, default: float) -> float:
            name = f"CI_TRACK_FORGE_{suffix}"
            if not environ.get(name, "").strip():
                name = f"CI_TRACK_GITHUB_{suffix}"  # the older name, else (unset too) the default
            return positive_number(environ, name, default)

        return cls(
            timeout=knob("TIMEOUT", 30), max_attempts=max(1, int(knob("ATTEMPTS", 5))), max_wait=knob("MAX_WAIT", 600.0)
        )


MAX_WAIT_VARIABLE = "CI_TRACK_FORGE_MAX_WAIT"  # what a too-long wait tells the user to raise


@dataclasses.dataclass(frozen=True, kw_only=True)
class RestForgeSettings:
    """What every forge spoken with plain `requests` is reached with (forges/rest.open_session)."""

    token: str = dataclasses.field(repr=False)
    api_url: str
    http: ForgeHttpSettings = ForgeHttpSettings()


@dataclasses.dataclass(frozen=True, kw_only=True)
class GitLabSettings(RestForgeSettings):
    """Where and as whom to talk to GitLab (gitlab.com or self-managed); built by `from_env`."""

    project: str  # the numeric id (CI_PROJECT_ID) or the path, nested groups allowed (group/sub/proj)
    api_url: str = DEFAULT_GITLAB_API_URL  # CI_API_V4_URL, else CI_SERVER_URL + /api/v4
    pipeline_id: int | None = None  # links the status to this pipeline when it ran on the head commit
    web_url: str | None = None  # the MR's project in the browser (CI_MERGE_REQUEST_PROJECT_URL): the note's link
    ref: str | None = None  # the branch the status belongs to: the MR's source branch

    def __post_init__(self) -> None:
        if not _GITLAB_PROJECT.fullmatch(self.project):
            raise UsageError(f"GitLab project must be a numeric id or a path (group/sub/proj), got {self.project!r}")

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str], *, project: str | None = None, head_sha: str | None = None
    ) -> GitLabSettings:
        token = _rest_forge_token(environ, "gitlab")
        # the MR's project: the target of a fork MR, where the notes live (CI_PROJECT_ID is the fork's)
        found = _first_set(environ, _GITLAB_PROJECT_VARIABLES) or (project or "").strip()
        if not found:
            raise UsageError("no GitLab project: set CI_TRACK_GITLAB_PROJECT to its id or path (group/sub/proj)")
        api_url = environ.get("CI_API_V4_URL", "").strip()
        if not api_url and environ.get("CI_SERVER_URL", "").strip():
            api_url = environ["CI_SERVER_URL"].strip().rstrip("/") + "/api/v4"
        pipeline = environ.get("CI_PIPELINE_ID", "").strip()
        # a merged-results pipeline runs on a merge commit: its id must not be attached to the head's status
        on_head = bool(head_sha) and environ.get("CI_COMMIT_SHA", "").strip().lower() == (head_sha or "").lower()
        return cls(
            token=token,
            project=found,
            api_url=_http_url(environ, "CI_API_V4_URL", api_url or DEFAULT_GITLAB_API_URL),
            pipeline_id=int(pipeline) if pipeline.isdigit() and on_head else None,
            web_url=_first_set(environ, ("CI_MERGE_REQUEST_PROJECT_URL", "CI_PROJECT_URL")).rstrip("/") or None,
            ref=_first_set(environ, ("CI_MERGE_REQUEST_SOURCE_BRANCH_NAME", "CI_COMMIT_BRANCH")) or None,
            http=ForgeHttpSettings.from_env(environ),
        )


def missing_token_message(environ: Mapping[str, str], forge: str) -> str:
    """What to set when `forge` (gitlab | bitbucket) has no token: the words MissingForgeToken carries."""
    return _missing_gitlab_token(environ) if forge == "gitlab" else _NO_BITBUCKET_CREDENTIAL_ADVICE


_NO_BITBUCKET_CREDENTIAL_ADVICE = (
    "no Bitbucket token: set CI_TRACK_BITBUCKET_TOKEN (a repository or workspace access token with "
    "pullrequest:write and repository:write scopes) as a secured repository variable"
)


def _missing_gitlab_token(environ: Mapping[str, str]) -> str:
    if environ.get("CI_JOB_TOKEN", "").strip():
        return (
            "no GitLab token that can write merge request notes: CI_JOB_TOKEN cannot; set CI_TRACK_GITLAB_TOKEN "
            "(a project or group access token with the api scope, Reporter role or above) as a masked CI/CD variable"
        )
    return "no GitLab token: set CI_TRACK_GITLAB_TOKEN or GITLAB_TOKEN (a project or group access token, api scope)"


@dataclasses.dataclass(frozen=True, kw_only=True)
class BitbucketSettings(RestForgeSettings):
    """Where and as whom to talk to Bitbucket Cloud; built by `from_env`."""

    repository: str  # "workspace/repo_slug"
    api_url: str = DEFAULT_BITBUCKET_API_URL
    build_url: str | None = None  # the build status must link somewhere: the run, else the pipeline

    def __post_init__(self) -> None:
        if not _BITBUCKET_REPOSITORY.fullmatch(self.repository):
            raise UsageError(f"Bitbucket repository must be 'workspace/repo_slug', got {self.repository!r}")

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str], *, repository: str | None = None, build_url: str | None = None
    ) -> BitbucketSettings:
        token = _rest_forge_token(environ, "bitbucket")
        found = (repository or "").strip() or environ.get("BITBUCKET_REPO_FULL_NAME", "").strip()
        if not found:
            raise UsageError("no Bitbucket repository: set BITBUCKET_REPO_FULL_NAME to 'workspace/repo_slug'")
        api_url = environ.get("CI_TRACK_BITBUCKET_API_URL", "").strip() or DEFAULT_BITBUCKET_API_URL
        return cls(
            token=token,
            repository=found,
            api_url=_http_url(environ, "CI_TRACK_BITBUCKET_API_URL", api_url),
            build_url=build_url,
            http=ForgeHttpSettings.from_env(environ),
        )
