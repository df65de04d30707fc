"""The Jenkins adapter: python-jenkins (which handles authentication and CSRF crumbs) behind the few calls
`ci-track jenkins trigger` needs; every failure leaves it as a one-line `JenkinsError`.

Only the command (ci_track/commands/jenkins.py) builds a `JenkinsClient`; python-jenkins and requests
are imported when it is built or called, never by importing this module.
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import quote

from ci_track.errors import JenkinsError, UsageError

REQUEST_TIMEOUT = 30.0  # seconds for one HTTP request


def job_path(job: str) -> str:
    """`folder/job` -> `job/folder/job/job/` (each name URL-quoted), the path Jenkins serves a job at."""
    names = [name for name in job.split("/") if name]
    if not names:
        raise UsageError("--job is empty")
    return "".join(f"job/{quote(name, safe='')}/" for name in names)


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
