"""What `ci-track jenkins trigger` does: start a Jenkins job from another CI and follow it to its result.

A GitHub Actions workflow (or any shell) starts a parameterized Jenkins job with the commit, branch
and PR it is about, optionally waits for the build, streams its console, and ends with the build's
result and the MLflow run id the build recorded.

- Pure parts: `build_parameters`, `exit_code_for_result`, `run_id_from_description`,
  `github_output_values` (ci-track.properties: ci_track/jenkins/properties.py).
- `JenkinsClient` is the adapter: python-jenkins (which handles authentication and CSRF crumbs)
  behind the few calls needed here; every failure leaves it as a one-line `JenkinsError`.
- `trigger_build` orchestrates them; the command in `ci_track.commands.jenkins` builds the client
  and prints the outcome.

Result -> exit code (the CLI's table): SUCCESS 0; FAILURE and UNSTABLE 1 (the build ran and said
no: a failed gate is UNSTABLE or FAILURE depending on the job's `onRegression`); ABORTED, NOT_BUILT
and a cancelled queue item 3, because the build was stopped before it gave a verdict, which is not
a verdict on the change (like a service failure, the caller's gate fails closed on it).
"""

from __future__ import annotations

import codecs
import contextlib
import dataclasses
import re
import time
from collections.abc import Callable, Iterator, Mapping
from typing import IO, TYPE_CHECKING, Any
from urllib.parse import quote

from ci_track.errors import ExitCode, JenkinsError, UsageError
from ci_track.jenkins import properties
from ci_track.secrets import redact, strip_url_credentials

if TYPE_CHECKING:
    from ci_track.ci.context import CIContext

DEFAULT_POLL_INTERVAL = 2.0  # seconds between queue/build polls
DEFAULT_TIMEOUT = 3600.0  # seconds to wait for the build to start and finish
REQUEST_TIMEOUT = 30.0  # seconds for one HTTP request

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


def parse_param(text: str) -> tuple[str, str]:
    """`KEY=VALUE` from the command line (the value may be empty or contain `=`)."""
    key, separator, value = text.partition("=")
    if not separator or not key.strip():
        raise UsageError(f"--param must be KEY=VALUE, got {text!r}")
    return key.strip(), value


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


def job_path(job: str) -> str:
    """`folder/job` -> `job/folder/job/job/` (each name URL-quoted), the path Jenkins serves a job at."""
    names = [name for name in job.split("/") if name]
    if not names:
        raise UsageError("--job is empty")
    return "".join(f"job/{quote(name, safe='')}/" for name in names)


# --- Adapter --------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class JobInfo:
    name: str
    buildable: bool
    is_folder: bool
    declared_parameters: frozenset[str] | None  # None: the job takes no parameters


class JenkinsClient:
    """python-jenkins behind the calls `trigger` needs. Raises only `JenkinsError`."""

    def __init__(
        self, url: str, *, user: str | None, token: str | None, request_timeout: float = REQUEST_TIMEOUT
    ) -> None:
        import jenkins

        self.url = url.rstrip("/") + "/"
        self._server = jenkins.Jenkins(self.url, username=user, password=token, timeout=request_timeout)
        self._has_user = user is not None

    def job_info(self, job: str) -> JobInfo:
        with self._errors("reading the job", job):
            data = self._get_json(f"{job_path(job)}api/json")
        declared = None
        for prop in data.get("property") or []:
            definitions = prop.get("parameterDefinitions") if isinstance(prop, dict) else None
            if definitions is not None:
                declared = frozenset(d.get("name", "") for d in definitions if isinstance(d, dict))
        return JobInfo(
            name=str(data.get("fullName") or job),
            buildable=bool(data.get("buildable", True)),
            is_folder="buildable" not in data and "jobs" in data,
            declared_parameters=declared,
        )

    def start_build(self, job: str, parameters: Mapping[str, str], *, parameterized: bool) -> int:
        """POST buildWithParameters (or build); returns the queue item number from Location."""
        import requests

        url = self.url + job_path(job) + ("buildWithParameters" if parameterized else "build")
        with self._errors("starting the build", job):
            # python-jenkins adds the CSRF crumb it fetched from /crumbIssuer to the POST.
            response = self._server.jenkins_request(requests.Request("POST", url, params=dict(parameters)))
        location = response.headers.get("Location", "")
        match = re.search(r"/queue/item/(\d+)/?$", location)
        if not match:
            raise JenkinsError(
                f"Jenkins at {self.url} started no queue item for {job} (HTTP {response.status_code}, "
                f"Location {location!r}): is it a Pipeline or freestyle job?"
            )
        return int(match.group(1))

    def queue_item(self, number: int) -> dict[str, Any]:
        with self._errors(f"reading queue item {number}", None):
            return self._get_json(f"queue/item/{number}/api/json")

    def build_info(self, job: str, number: int) -> dict[str, Any]:
        with self._errors(f"reading build #{number}", job):
            return self._get_json(f"{job_path(job)}{number}/api/json")

    def progressive_text(self, job: str, number: int, start: int) -> tuple[bytes, int, bool]:
        """The console from byte `start`: (bytes, the next start, whether more is coming)."""
        import requests

        url = f"{self.url}{job_path(job)}{number}/logText/progressiveText"
        with self._errors(f"reading the console of build #{number}", job):
            response = self._server.jenkins_request(requests.Request("GET", url, params={"start": str(start)}))
        content = response.content
        try:
            size = int(response.headers.get("X-Text-Size", ""))
        except ValueError:
            size = start + len(content)
        more = response.headers.get("X-More-Data", "").lower() == "true"
        return content, size, more

    def artifact_text(self, job: str, number: int, relative_path: str) -> str | None:
        """An archived file of the build, or None when it is not there."""
        import jenkins
        import requests

        url = f"{self.url}{job_path(job)}{number}/artifact/{quote(relative_path)}"
        with self._errors(f"reading {relative_path} of build #{number}", job):
            try:
                response = self._server.jenkins_request(requests.Request("GET", url))
            except jenkins.NotFoundException:
                return None
        return response.content.decode("utf-8", errors="replace")

    def _get_json(self, path: str) -> dict[str, Any]:
        import requests

        response = self._server.jenkins_request(requests.Request("GET", self.url + path))
        try:
            data = response.json()
        except ValueError:
            raise JenkinsError(f"Jenkins at {self.url} answered {path} with something that is not JSON") from None
        if not isinstance(data, dict):
            raise JenkinsError(f"Jenkins at {self.url} answered {path} with JSON that is not an object")
        return data

    @contextlib.contextmanager
    def _errors(self, action: str, job: str | None) -> Iterator[None]:
        """Translate python-jenkins and requests failures into one-line JenkinsErrors."""
        import jenkins
        import requests

        try:
            yield
        except jenkins.TimeoutException:
            raise JenkinsError(
                f"Jenkins at {self.url} did not answer within {REQUEST_TIMEOUT:g} s while {action}"
            ) from None
        except jenkins.JenkinsException as error:
            raise JenkinsError(self._message(action, job, _http_status(error), error)) from error
        except requests.RequestException as error:
            # requests nests the OS error deep in its message; "[Errno 111] Connection refused" is the useful part
            errno = re.search(r"\[Errno -?\d+\] ([^'\")\]]+)", str(error))
            reason = errno.group(1).strip() if errno else type(error).__name__
            raise JenkinsError(f"could not reach Jenkins at {self.url} while {action}: {reason}") from None

    def _message(self, action: str, job: str | None, status: int | None, error: Exception) -> str:
        where = f"Jenkins at {self.url}"
        if status == 401:
            return (
                f"{where} rejected the credentials (HTTP 401) while {action}: check JENKINS_USER and "
                "JENKINS_TOKEN (an API token from the user's Security page)"
            )
        if status == 403:
            if not self._has_user:
                return f"{where} refused anonymous access (HTTP 403) while {action}: set JENKINS_USER and JENKINS_TOKEN"
            target = f" on {job}" if job else ""
            return (
                f"{where} refused access (HTTP 403) while {action}: JENKINS_USER needs the Overall/Read, "
                f"Job/Read and Job/Build permissions{target}"
            )
        if status == 404 and job is not None:
            return f"{where} has no job {job!r} (HTTP 404): check --job (jobs in folders are written folder/job)"
        if status is not None:
            return f"{where} answered HTTP {status} while {action}"
        first_line = (str(error).strip().splitlines() or [type(error).__name__])[0]
        return f"{where} failed while {action}: {first_line}"


def _http_status(error: BaseException) -> int | None:
    """The HTTP status behind a python-jenkins exception (it raises inside `except HTTPError`)."""
    import jenkins
    import requests

    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, requests.HTTPError) and seen.response is not None:
            return int(seen.response.status_code)
        if isinstance(seen, jenkins.NotFoundException):
            return 404
        seen = seen.__cause__ or seen.__context__
    return None


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

    deadline = clock() + request.timeout
    number, build_url = _wait_for_start(client, request, queue_number, queue_url, deadline, out, clock, sleep)
    if number is None:
        return BuildOutcome(queue_url=queue_url, result="CANCELLED")
    _say(out, f"build: {build_url}")
    if request.follow:
        _stream_console(client, request, number, build_url, deadline, out, clock, sleep)
    info = _wait_for_end(client, request, number, build_url, deadline, clock, sleep)
    result = str(info.get("result") or "NOT_BUILT")
    return BuildOutcome(
        queue_url=queue_url,
        number=number,
        build_url=build_url,
        result=result,
        run_id=_recorded_run_id(client, request.job, number, info),
    )


def _wait_for_start(
    client: JenkinsClient,
    request: TriggerRequest,
    queue_number: int,
    queue_url: str,
    deadline: float,
    out: IO[str],
    clock: Callable[[], float],
    sleep: Callable[[float], None],
) -> tuple[int | None, str]:
    """Poll the queue item until it has a build (number, url) or was cancelled (None, "")."""
    last_why = None
    while True:
        item = client.queue_item(queue_number)
        if item.get("cancelled"):
            return None, ""
        executable = item.get("executable")
        if isinstance(executable, dict) and executable.get("number") is not None:
            number = int(executable["number"])
            url = str(executable.get("url") or f"{client.url}{job_path(request.job)}{number}/")
            return number, url
        why = item.get("why")
        if why and why != last_why:
            _say(out, f"waiting: {why}")
            last_why = why
        if clock() >= deadline:
            detail = f" (Jenkins says: {last_why})" if last_why else ""
            raise JenkinsError(
                f"timed out after {request.timeout:g} s waiting for {queue_url} to start a build{detail}"
            )
        sleep(request.poll_interval)


def _stream_console(
    client: JenkinsClient,
    request: TriggerRequest,
    number: int,
    build_url: str,
    deadline: float,
    out: IO[str],
    clock: Callable[[], float],
    sleep: Callable[[float], None],
) -> None:
    """Copy the console to `out` as it grows, whole lines at a time so redaction sees whole tokens."""
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    pending = ""
    start = 0
    while True:
        chunk, start, more = client.progressive_text(request.job, number, start)
        pending += decoder.decode(chunk)
        complete, newline, pending = pending.rpartition("\n")
        if newline:
            out.write(redact(complete + newline))
            out.flush()
        if not more:
            break
        if clock() >= deadline:
            raise JenkinsError(f"timed out after {request.timeout:g} s waiting for build {build_url} to finish")
        sleep(request.poll_interval)
    pending += decoder.decode(b"", final=True)
    if pending:
        out.write(redact(pending) + "\n")
        out.flush()


def _wait_for_end(
    client: JenkinsClient,
    request: TriggerRequest,
    number: int,
    build_url: str,
    deadline: float,
    clock: Callable[[], float],
    sleep: Callable[[float], None],
) -> dict[str, Any]:
    while True:
        info = client.build_info(request.job, number)
        if not info.get("building") and info.get("result") is not None:
            return info
        if clock() >= deadline:
            raise JenkinsError(f"timed out after {request.timeout:g} s waiting for build {build_url} to finish")
        sleep(request.poll_interval)


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
