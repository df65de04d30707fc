"""What `ci-track jenkins trigger` does: start a Jenkins job from another CI and follow it to its result.

A GitHub Actions workflow (or any shell) starts a parameterized Jenkins job with the commit, branch
and PR it is about, optionally waits for the build, streams its console, and ends with the build's
result and the MLflow run id the build recorded.

- Pure parts: `build_parameters`, `exit_code_for_result`, `run_id_from_description`,
  `github_output_values` (ci-track.properties: ci_track/jenkins/properties.py).
- `JenkinsClient` (ci_track/jenkins/client.py) is the adapter: python-jenkins behind the few calls
  needed here; every failure leaves it as a one-line `JenkinsError`.
- `trigger_build` orchestrates them; the command in `ci_track.commands.jenkins` builds the client
  and prints the outcome.

Result -> exit code (the CLI's table): SUCCESS 0; FAILURE and UNSTABLE 1 (the build ran and said
no: a failed gate is UNSTABLE or FAILURE depending on the job's `onRegression`); ABORTED, NOT_BUILT
and a cancelled queue item 3, because the build was stopped before it gave a verdict, which is not
a verdict on the change (like a service failure, the caller's gate fails closed on it).
"""

from __future__ import annotations

import codecs
import dataclasses
import re
import time
from collections.abc import Callable, Mapping
from typing import IO, TYPE_CHECKING, Any

from ci_track.errors import ExitCode, JenkinsError, UsageError
from ci_track.jenkins import properties
from ci_track.jenkins.client import JenkinsClient, job_path
from ci_track.secrets import redact, strip_url_credentials

if TYPE_CHECKING:
    from ci_track.ci.context import CIContext

DEFAULT_POLL_INTERVAL = 2.0  # seconds between queue/build polls
DEFAULT_TIMEOUT = 3600.0  # seconds to wait for the build to start and finish

# Build parameters filled from the detected CI context (a --param with the same name wins).
# The Jenkins job declares the ones it wants; ci-track in that job reads them as overrides.
CONTEXT_PARAMETERS = ("CI_TRACK_HEAD_SHA", "CI_TRACK_BRANCH", "CI_TRACK_BASE_BRANCH", "CI_TRACK_PR_NUMBER")

RESULT_EXIT_CODES: Mapping[str, ExitCode] = {
    "SUCCESS": ExitCode.OK,
    "UNSTABLE": ExitCode.REGRESSION,
    "FAILURE": ExitCode.REGRESSION,
}

# What `ciTrack.run` puts in the build description (the shared library's Gate.runDescription).
_DESCRIPTION_RUN_ID = re.compile(r"ci-track run:\s*([A-Za-z0-9][A-Za-z0-9_-]{0,63})(?![A-Za-z0-9_-])")
_RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")


@dataclasses.dataclass(frozen=True, kw_only=True)
class TriggerRequest:
    job: str  # full name; jobs in folders as folder/job
    parameters: Mapping[str, str]  # user --param values; context values are added by build_parameters
    wait: bool = False
    follow: bool = False  # stream the console (implies wait)
    timeout: float = DEFAULT_TIMEOUT
    poll_interval: float = DEFAULT_POLL_INTERVAL


@dataclasses.dataclass(frozen=True, kw_only=True)
class BuildOutcome:
    queue_url: str
    number: int | None = None
    build_url: str | None = None
    result: str | None = None  # SUCCESS | UNSTABLE | FAILURE | ABORTED | NOT_BUILT | CANCELLED (in the queue)
    run_id: str | None = None


# --- Pure -----------------------------------------------------------------------------------


def context_parameters(context: CIContext | None) -> dict[str, str]:
    """The commit, branch, base branch and PR of the triggering build, as Jenkins build parameters."""
    if context is None:
        return {}
    values = {
        "CI_TRACK_HEAD_SHA": context.head_sha,
        "CI_TRACK_BRANCH": context.branch,
        "CI_TRACK_BASE_BRANCH": context.base_branch,
        "CI_TRACK_PR_NUMBER": None if context.pr_number is None else str(context.pr_number),
    }
    return {key: value for key, value in values.items() if value}


def build_parameters(
    context_values: Mapping[str, str], user_values: Mapping[str, str], declared: frozenset[str] | None
) -> dict[str, str]:
    """What to send: the context values the job declares, then every user value (user wins).

    `declared` is None when the job takes no parameters at all. Jenkins drops parameters a job
    does not declare (and logs a warning), so context values are only sent where they are wanted.
    """
    if declared is None:
        if user_values:
            raise UsageError(
                f"the job declares no parameters, so --param {', '.join(sorted(user_values))} would be ignored: "
                "add them to the job (parameters { string(name: ...) }) or drop --param"
            )
        return {}
    parameters = {key: value for key, value in context_values.items() if key in declared}
    parameters.update(user_values)
    return parameters


def exit_code_for_result(result: str | None) -> ExitCode:
    """SUCCESS 0; UNSTABLE and FAILURE 1; anything else (ABORTED, NOT_BUILT, CANCELLED) 3."""
    return RESULT_EXIT_CODES.get(result or "", ExitCode.SERVICE)


def run_id_from_description(description: str | None) -> str | None:
    """The run id in a build description written by `ciTrack.run` (`ci-track run: <id>`)."""
    if not description:
        return None
    match = _DESCRIPTION_RUN_ID.search(description)
    return match.group(1) if match else None


def valid_run_id(value: str | None) -> str | None:
    """`value` when it looks like an MLflow run id; anything else (newlines included) is dropped."""
    return value if value and _RUN_ID.fullmatch(value) else None


def github_output_values(outcome: BuildOutcome) -> dict[str, str]:
    """The step outputs of a triggered build; values that hold a line break are left out (untrusted text)."""
    values = {
        "queue-url": outcome.queue_url,
        "build-url": outcome.build_url,
        "build-number": None if outcome.number is None else str(outcome.number),
        "result": outcome.result,
        "run-id": outcome.run_id,
    }
    return {key: value for key, value in values.items() if value and not re.search(r"[\r\n]", value)}


# --- Orchestration --------------------------------------------------------------------------


def trigger_build(
    client: JenkinsClient,
    request: TriggerRequest,
    context_values: Mapping[str, str],
    *,
    out: IO[str],
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> BuildOutcome:
    """Start the job; with `wait`/`follow`, follow it to its result. Progress lines go to `out`."""
    job = client.job_info(request.job)
    if job.is_folder:
        raise UsageError(f"{request.job} is a folder or multibranch project: name a job in it, e.g. {request.job}/main")
    if not job.buildable:
        raise JenkinsError(f"job {request.job} on {client.url} is disabled (not buildable)")
    parameters = build_parameters(context_values, request.parameters, job.declared_parameters)
    for name in sorted(set(request.parameters) - (job.declared_parameters or frozenset())):
        _say(out, f"note: job {request.job} does not declare parameter {name}; Jenkins will ignore it")
    if job.declared_parameters is None and context_values:
        _say(out, f"note: job {request.job} declares no parameters, so the commit, branch and PR are not passed")

    queue_number = client.start_build(request.job, parameters, parameterized=job.declared_parameters is not None)
    queue_url = f"{client.url}queue/item/{queue_number}/"
    _say(out, f"queued: {queue_url}")
    if not (request.wait or request.follow):
        return BuildOutcome(queue_url=queue_url)

    follow = _Follow(client, request, clock() + request.timeout, out, clock, sleep)
    number, build_url = _wait_for_start(follow, queue_number, queue_url)
    if number is None:
        return BuildOutcome(queue_url=queue_url, result="CANCELLED")
    _say(out, f"build: {build_url}")
    if request.follow:
        _stream_console(follow, number, build_url)
    info = _wait_for_end(follow, number, build_url)
    result = str(info.get("result") or "NOT_BUILT")
    return BuildOutcome(
        queue_url=queue_url,
        number=number,
        build_url=build_url,
        result=result,
        run_id=_recorded_run_id(client, request.job, number, info),
    )


@dataclasses.dataclass(frozen=True)
class _Follow:
    """Following one triggered build: its client and request, and the one deadline every wait shares."""

    client: JenkinsClient
    request: TriggerRequest
    deadline: float
    out: IO[str]
    clock: Callable[[], float]
    sleep: Callable[[float], None]

    def pause(self, waiting_for: str) -> None:
        """Wait one poll interval before asking Jenkins again; past the deadline, fail naming what was awaited."""
        if self.clock() >= self.deadline:
            raise JenkinsError(f"timed out after {self.request.timeout:g} s waiting for {waiting_for}")
        self.sleep(self.request.poll_interval)


def _wait_for_start(follow: _Follow, queue_number: int, queue_url: str) -> tuple[int | None, str]:
    """Poll the queue item until it has a build (number, url) or was cancelled (None, "")."""
    client = follow.client
    last_why = None
    while True:
        item = client.queue_item(queue_number)
        if item.get("cancelled"):
            return None, ""
        executable = item.get("executable")
        if isinstance(executable, dict) and executable.get("number") is not None:
            number = int(executable["number"])
            url = str(executable.get("url") or f"{client.url}{job_path(follow.request.job)}{number}/")
            return number, url
        why = item.get("why")
        if why and why != last_why:
            _say(follow.out, f"waiting: {why}")
            last_why = why
        detail = f" (Jenkins says: {last_why})" if last_why else ""
        follow.pause(f"{queue_url} to start a build{detail}")


def _stream_console(follow: _Follow, number: int, build_url: str) -> None:
    """Copy the console to `out` as it grows, whole lines at a time so redaction sees whole tokens."""
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    out = follow.out
    pending = ""
    start = 0
    while True:
        chunk, start, more = follow.client.progressive_text(follow.request.job, number, start)
        pending += decoder.decode(chunk)
        complete, newline, pending = pending.rpartition("\n")
        if newline:
            out.write(redact(complete + newline))
            out.flush()
        if not more:
            break
        follow.pause(f"build {build_url} to finish")
    pending += decoder.decode(b"", final=True)
    if pending:
        out.write(redact(pending) + "\n")
        out.flush()


def _wait_for_end(follow: _Follow, number: int, build_url: str) -> dict[str, Any]:
    while True:
        info = follow.client.build_info(follow.request.job, number)
        if not info.get("building") and info.get("result") is not None:
            return info
        follow.pause(f"build {build_url} to finish")


def _recorded_run_id(client: JenkinsClient, job: str, number: int, info: Mapping[str, Any]) -> str | None:
    """The MLflow run id the build recorded: its description, else its archived ci-track.properties."""
    description = info.get("description")
    run_id = run_id_from_description(description if isinstance(description, str) else None)
    if run_id:
        return run_id
    for artifact in info.get("artifacts") or []:
        if isinstance(artifact, dict) and artifact.get("fileName") == properties.FILE_NAME:
            text = client.artifact_text(job, number, str(artifact.get("relativePath") or properties.FILE_NAME))
            if text is not None:
                return valid_run_id(properties.parse_properties(text).get("RUN_ID"))
    return None


def _say(out: IO[str], line: str) -> None:
    out.write(redact(line) + "\n")
    out.flush()


def jenkins_url(value: str) -> str:
    """The --url, checked: http(s), and no credentials in it (they belong in JENKINS_USER/JENKINS_TOKEN)."""
    url = value.strip()
    if not re.match(r"https?://[^/\s]+", url):
        raise UsageError(f"--url must be an http(s) URL of the Jenkins server, got {strip_url_credentials(url)!r}")
    if strip_url_credentials(url) != url:
        raise UsageError("--url must not contain credentials: put them in JENKINS_USER and JENKINS_TOKEN")
    return url
