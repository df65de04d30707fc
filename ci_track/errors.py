"""The project's exceptions and the one exit-code table of the CLI.

Library code raises these; only `ci_track.cli` turns them into a message and an exit code.
Adapters translate third-party exceptions (requests, PyGithub, python-jenkins, YAML)
into these at their boundary, so nothing above an adapter ever sees a foreign exception.
"""

from __future__ import annotations

import enum


class ExitCode(enum.IntEnum):
    """Every exit code the `ci-track` command returns (documented in README.md)."""

    OK = 0  # success; for `compare`: pass, or no champion with `no_champion: pass`
    REGRESSION = 1  # the gate found a regression (or a Jenkins build did not succeed)
    USAGE = 2  # bad command line, configuration, MLproject or CI environment
    SERVICE = 3  # the tracking server, a forge (GitHub, GitLab, Bitbucket) or Jenkins failed, refused or timed out
    INTERNAL = 4  # a bug in ci-track: the traceback is written to a log file
    INTERRUPTED = 130  # SIGINT/SIGTERM stopped ci-track itself


class CiTrackError(Exception):
    """A failure the user can act on. `str(error)` is the one-line message shown.

    `follow_up` holds lines the CLI prints after the error line: what became of the work the
    failure interrupted (e.g. "MLflow run ... failed"), which reads as noise before the reason.
    """

    exit_code: ExitCode = ExitCode.USAGE
    follow_up: tuple[str, ...] = ()


class UsageError(CiTrackError):
    """Bad command-line arguments or values."""

    exit_code = ExitCode.USAGE


class ConfigError(UsageError):
    """`.ci-track.yml`, an MLproject file or a metrics file is invalid."""


# What a file nested thousands of levels deep (`[[[[...]]]]`) is called in messages: the parsers
# recurse, and a RecursionError would otherwise end as an internal error (exit 4).
TOO_DEEP = "nested too deeply to read (thousands of levels of lists or mappings)"


class ContextError(UsageError):
    """The CI environment is missing or inconsistent (e.g. a PR event without its payload)."""


class ServiceError(CiTrackError):
    """A remote service failed or refused; the gate fails closed on this."""

    exit_code = ExitCode.SERVICE


class TrackingError(ServiceError):
    """The MLflow tracking server answered with an error, or could not be reached.

    `error_code` is MLflow's own (e.g. RESOURCE_DOES_NOT_EXIST) when the server sent one.
    """

    def __init__(
        self,
        message: str,
        *,
        url: str = "",
        status: int | None = None,
        error_code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.url = url
        self.status = status
        self.error_code = error_code


class UntrustedChampionError(ServiceError):
    """The configured champion exists but cannot be trusted (e.g. an alias on an incomplete run): fail closed."""


class NotFoundError(TrackingError):
    """MLflow said RESOURCE_DOES_NOT_EXIST (or 404 with a JSON error body)."""


class ForgeError(ServiceError):
    """A code forge's API failed or refused (each forge adapter raises its own subclass)."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class ForgeForbidden(ForgeError):
    """HTTP 403: the token may read but not write here (a fork's token, CI_JOB_TOKEN, a missing scope).

    The sticky comment and the status report it as a `forbidden` outcome (a warning), not as a failure."""


class SharedKeyError(UsageError):
    """Two jobs publish under one report key on one commit (report/metadata.py): refused, never overwritten.

    A configuration error (exit 2): the message says to give each job its own `key`."""


class GitHubError(ForgeError):
    """The GitHub API failed or refused."""


class GitLabError(ForgeError):
    """The GitLab API failed or refused."""


class BitbucketError(ForgeError):
    """The Bitbucket API failed or refused."""


class JenkinsError(ServiceError):
    """The Jenkins server failed, refused, or a build did not finish in time."""


class Interrupted(CiTrackError):
    """ci-track itself was stopped by SIGINT or SIGTERM."""

    exit_code = ExitCode.INTERRUPTED
