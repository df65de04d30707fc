"""A stateful fake Jenkins on 127.0.0.1 for the `ci-track jenkins trigger` tests.

It serves the part of Jenkins' REST API that python-jenkins 1.8 and `ci_track.jenkins.trigger`
use, with the URLs of python-jenkins (jenkins/__init__.py: CRUMB_URL, JOB_INFO, BUILD_JOB,
BUILD_WITH_PARAMS_JOB, Q_ITEM, BUILD_INFO, BUILD_CONSOLE_OUTPUT, BUILD_ARTIFACT, INFO, WHOAMI_URL)
and Jenkins' own behaviour where it matters:

- HTTP Basic authentication with API tokens: a wrong token is 401, no credentials 403 (anonymous
  has no Overall/Read), a user without Job/Build permission gets 403 on POST.
- CSRF: GET /crumbIssuer/api/json issues a crumb per user; every POST without the
  `Jenkins-Crumb` header carrying it is refused with 403 "No valid crumb was included in the request".
- POST /job/NAME/buildWithParameters (parameterized jobs) or /job/NAME/build answers 201 with
  `Location: <root>/queue/item/N/`; undeclared parameters are dropped as Jenkins does.
- GET /queue/item/N/api/json says `why` until the item has waited `queue_polls` polls, then
  gives `executable` {number, url}; cancelled items have `cancelled: true`.
- GET /job/NAME/N/api/json (building, result, description, artifacts); the build advances one
  console chunk per poll of its api/json or its console, so tests never depend on timing.
- GET /job/NAME/N/logText/progressiveText?start=K with X-Text-Size and X-More-Data,
  /job/NAME/N/consoleText, /job/NAME/N/artifact/PATH.
- Jobs in folders (/job/folder/job/name/...), 404 for unknown jobs, builds and paths.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import secrets
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlsplit

JENKINS_VERSION = "2.462.3"
CRUMB_FIELD = "Jenkins-Crumb"


@dataclasses.dataclass
class FakeJob:
    """A job and how its next builds behave."""

    name: str  # full name; folders as "folder/job"
    parameters: tuple[str, ...] | None = ("CI_TRACK_HEAD_SHA", "CI_TRACK_BRANCH", "CI_TRACK_PR_NUMBER")
    result: str = "SUCCESS"
    # Revealed one chunk per poll; bytes chunks may split a UTF-8 character, as Jenkins' byte offsets do.
    console: list[str | bytes] = dataclasses.field(default_factory=lambda: ["Started by remote host\n", "Finished\n"])
    description: str | None = None
    artifacts: dict[str, bytes] = dataclasses.field(default_factory=dict)
    queue_polls: int = 1  # polls answered "waiting" before the build starts
    never_starts: bool = False
    cancelled: bool = False
    never_finishes: bool = False
    buildable: bool = True


@dataclasses.dataclass
class FakeBuild:
    job: FakeJob
    number: int
    parameters: dict[str, str]
    progress: int = 0  # console chunks revealed

    @property
    def building(self) -> bool:
        return self.job.never_finishes or self.progress < len(self.job.console)

    def console_bytes(self) -> bytes:
        chunks = self.job.console[: self.progress]
        return b"".join(c if isinstance(c, bytes) else c.encode("utf-8") for c in chunks)

    def advance(self) -> None:
        self.progress = min(self.progress + 1, len(self.job.console))


@dataclasses.dataclass
class QueueItem:
    number: int
    job: FakeJob
    parameters: dict[str, str]
    polls: int = 0
    build: FakeBuild | None = None


@dataclasses.dataclass(frozen=True)
class Request:
    method: str
    path: str  # with the query string
    headers: dict[str, str]
    user: str | None


class FakeJenkins:
    """Start with `with FakeJenkins(users={...}) as jenkins:`; `jenkins.url` is the root URL."""

    def __init__(
        self,
        *,
        users: dict[str, str] | None = None,
        readonly_users: set[str] | None = None,
        folders: tuple[str, ...] = (),
    ) -> None:
        self.users = dict(users or {})  # name -> API token
        self.readonly_users = set(readonly_users or ())
        self.folders = set(folders)
        self.jobs: dict[str, FakeJob] = {}
        self.queue: dict[int, QueueItem] = {}
        self.builds: dict[tuple[str, int], FakeBuild] = {}
        self.requests: list[Request] = []
        self.crumbs_issued = 0
        self._crumbs: dict[str | None, str] = {}
        self._next_queue = 1
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> FakeJenkins:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def add_job(self, job: FakeJob) -> FakeJob:
        self.jobs[job.name] = job
        return job

    def started_builds(self, name: str) -> list[FakeBuild]:
        return [build for (job, _), build in sorted(self.builds.items()) if job == name]

    def posts(self) -> list[Request]:
        return [r for r in self.requests if r.method == "POST"]

    # --- HTTP ----------------------------------------------------------------------------

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                fake._handle(self, "GET")

            def do_POST(self) -> None:
                fake._handle(self, "POST")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler

    def _handle(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        with self._lock:
            status, headers, payload = self._respond(handler, method, body)
        handler.send_response(status)
        headers.setdefault("Content-Type", "application/json;charset=utf-8")
        headers["X-Jenkins"] = JENKINS_VERSION
        headers["Content-Length"] = str(len(payload))
        for name, value in headers.items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(payload)

    def _respond(self, handler: BaseHTTPRequestHandler, method: str, body: bytes) -> tuple[int, dict[str, str], bytes]:
        user, auth_problem = self._authenticate(handler.headers.get("Authorization"))
        self.requests.append(Request(method, handler.path, dict(handler.headers.items()), user))
        if auth_problem is not None:
            return auth_problem
        parts = urlsplit(handler.path)
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        if method == "POST" and handler.headers.get("Content-Type", "").startswith("application/x-www-form-urlencoded"):
            query.update(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
        segments = [unquote(s) for s in parts.path.strip("/").split("/") if s]

        if method == "POST":
            if handler.headers.get(CRUMB_FIELD) != self._crumbs.get(user) or user not in self._crumbs:
                return _html(403, "No valid crumb was included in the request")
            if user in self.readonly_users:
                return _html(403, f"{user} is missing the Job/Build permission")

        if segments == ["api", "json"]:
            return _json(
                {
                    "_class": "hudson.model.Hudson",
                    "mode": "NORMAL",
                    "useCrumbs": True,
                    "useSecurity": True,
                    "jobs": [self._job_summary(j) for j in self.jobs.values() if "/" not in j.name],
                }
            )
        if segments == ["crumbIssuer", "api", "json"] and method == "GET":
            crumb = self._crumbs.setdefault(user, secrets.token_hex(16))
            self.crumbs_issued += 1
            return _json(
                {"_class": "hudson.security.csrf.DefaultCrumbIssuer", "crumb": crumb, "crumbRequestField": CRUMB_FIELD}
            )
        if segments == ["me", "api", "json"]:
            return _json({"_class": "hudson.model.User", "id": user or "anonymous", "fullName": user or "anonymous"})
        if len(segments) == 5 and segments[:2] == ["queue", "item"] and segments[3:] == ["api", "json"]:
            return self._queue_item(segments[2])
        if segments[:1] == ["job"]:
            return self._job_request(method, segments, query)
        return _html(404, "Not Found")

    def _authenticate(self, header: str | None) -> tuple[str | None, tuple[int, dict[str, str], bytes] | None]:
        if not header:
            return None, _html(403, "Authentication required: anonymous is missing the Overall/Read permission")
        try:
            scheme, encoded = header.split(" ", 1)
            name, _, token = base64.b64decode(encoded).decode("utf-8").partition(":")
        except ValueError:
            return None, _html(401, "Invalid authorization header")
        if scheme.lower() != "basic" or self.users.get(name) != token:
            return None, _html(401, f"Invalid password/token for user: {name}")
        return name, None

    # --- queue -----------------------------------------------------------------------------

    def _queue_item(self, number_text: str) -> tuple[int, dict[str, str], bytes]:
        item = self.queue.get(int(number_text)) if number_text.isdigit() else None
        if item is None:
            return _html(404, "Not Found")
        base = {
            "id": item.number,
            "url": f"queue/item/{item.number}/",
            "task": self._job_summary(item.job),
            "params": "".join(f"\n{k}={v}" for k, v in item.parameters.items()),
        }
        if item.job.cancelled:
            return _json({"_class": "hudson.model.Queue$LeftItem", **base, "cancelled": True, "executable": None})
        if item.build is None and not item.job.never_starts and item.polls >= item.job.queue_polls:
            number = 1 + max((n for (j, n) in self.builds if j == item.job.name), default=0)
            item.build = FakeBuild(item.job, number, item.parameters)
            self.builds[(item.job.name, number)] = item.build
        item.polls += 1
        if item.build is None:
            return _json(
                {
                    "_class": "hudson.model.Queue$WaitingItem",
                    **base,
                    "blocked": False,
                    "buildable": False,
                    "stuck": False,
                    "why": "Waiting for next available executor",
                }
            )
        return _json(
            {
                "_class": "hudson.model.Queue$LeftItem",
                **base,
                "cancelled": False,
                "executable": {
                    "_class": "org.jenkinsci.plugins.workflow.job.WorkflowRun",
                    "number": item.build.number,
                    "url": self._build_url(item.build),
                },
            }
        )

    # --- jobs and builds ---------------------------------------------------------------------

    def _job_request(
        self, method: str, segments: list[str], query: dict[str, str]
    ) -> tuple[int, dict[str, str], bytes]:
        names: list[str] = []
        rest = segments
        while len(rest) >= 2 and rest[0] == "job":
            names.append(rest[1])
            rest = rest[2:]
        name = "/".join(names)
        if name in self.folders:
            if rest == ["api", "json"]:
                jobs = [self._job_summary(j) for j in self.jobs.values() if j.name.rpartition("/")[0] == name]
                return _json(
                    {
                        "_class": "com.cloudbees.hudson.plugins.folder.Folder",
                        "name": names[-1],
                        "fullName": name,
                        "jobs": jobs,
                    }
                )
            return _html(404, "Not Found")
        job = self.jobs.get(name)
        if job is None:
            return _html(404, "Not Found")
        if rest == ["api", "json"] and method == "GET":
            return _json(self._job_info(job))
        if rest in (["build"], ["buildWithParameters"]) and method == "POST":
            return self._start(job, rest[0], query)
        if rest and rest[0].isdigit() and method == "GET":
            build = self.builds.get((name, int(rest[0])))
            if build is None:
                return _html(404, "Not Found")
            return self._build_request(build, rest[1:], query)
        return _html(404, "Not Found")

    def _start(self, job: FakeJob, endpoint: str, query: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        if not job.buildable:
            return _html(409, f"{job.name} is disabled")
        if endpoint == "buildWithParameters" and job.parameters is None:
            return _html(500, f"java.lang.IllegalStateException: {job.name} is not parameterized")
        if endpoint == "build" and job.parameters is not None:
            return _html(400, "This page expects a form submission")
        declared = job.parameters or ()
        parameters = {key: value for key, value in query.items() if key in declared}
        number = self._next_queue
        self._next_queue += 1
        self.queue[number] = QueueItem(number, job, parameters)
        return 201, {"Location": f"{self.url}queue/item/{number}/", "Content-Type": "text/html"}, b""

    def _build_request(
        self, build: FakeBuild, rest: list[str], query: dict[str, str]
    ) -> tuple[int, dict[str, str], bytes]:
        if rest == ["api", "json"]:
            response = _json(self._build_info(build))
            build.advance()
            return response
        if rest == ["logText", "progressiveText"]:
            text = build.console_bytes()
            building = build.building
            start = int(query.get("start") or 0)
            build.advance()
            headers = {"Content-Type": "text/plain;charset=utf-8", "X-Text-Size": str(len(text))}
            if building:
                headers["X-More-Data"] = "true"
            return 200, headers, text[start:]
        if rest == ["consoleText"]:
            return 200, {"Content-Type": "text/plain;charset=utf-8"}, build.console_bytes()
        if rest[:1] == ["artifact"] and not build.building:
            content = build.job.artifacts.get("/".join(rest[1:]))
            if content is not None:
                return 200, {"Content-Type": "application/octet-stream"}, content
        return _html(404, "Not Found")

    def _job_summary(self, job: FakeJob) -> dict[str, Any]:
        return {
            "_class": "org.jenkinsci.plugins.workflow.job.WorkflowJob",
            "name": job.name.rpartition("/")[2],
            "url": self._job_url(job),
            "color": "blue",
        }

    def _job_info(self, job: FakeJob) -> dict[str, Any]:
        numbers = sorted((n for (j, n) in self.builds if j == job.name), reverse=True)
        properties: list[dict[str, Any]] = []
        if job.parameters is not None:
            properties.append(
                {
                    "_class": "hudson.model.ParametersDefinitionProperty",
                    "parameterDefinitions": [
                        {
                            "_class": "hudson.model.StringParameterDefinition",
                            "name": name,
                            "type": "StringParameterDefinition",
                            "description": "",
                            "defaultParameterValue": {
                                "_class": "hudson.model.StringParameterValue",
                                "name": name,
                                "value": "",
                            },
                        }
                        for name in job.parameters
                    ],
                }
            )
        return {
            **self._job_summary(job),
            "fullName": job.name,
            "buildable": job.buildable,
            "inQueue": any(i.build is None for i in self.queue.values() if i.job is job),
            "nextBuildNumber": 1 + (numbers[0] if numbers else 0),
            "builds": [{"number": n, "url": f"{self._job_url(job)}{n}/"} for n in numbers],
            "property": properties,
        }

    def _build_info(self, build: FakeBuild) -> dict[str, Any]:
        building = build.building
        return {
            "_class": "org.jenkinsci.plugins.workflow.job.WorkflowRun",
            "number": build.number,
            "url": self._build_url(build),
            "fullDisplayName": f"{build.job.name} #{build.number}",
            "building": building,
            "result": None if building else build.job.result,
            "description": None if building else build.job.description,
            "artifacts": []
            if building
            else [
                {"displayPath": path.rpartition("/")[2], "fileName": path.rpartition("/")[2], "relativePath": path}
                for path in build.job.artifacts
            ],
            "actions": [
                {
                    "_class": "hudson.model.ParametersAction",
                    "parameters": [{"name": k, "value": v} for k, v in build.parameters.items()],
                }
            ],
        }

    def _job_url(self, job: FakeJob) -> str:
        return self.url + "".join(f"job/{quote(name, safe='')}/" for name in job.name.split("/"))

    def _build_url(self, build: FakeBuild) -> str:
        return f"{self._job_url(build.job)}{build.number}/"


def _json(data: Any, status: int = 200) -> tuple[int, dict[str, str], bytes]:
    return status, {"Content-Type": "application/json;charset=utf-8"}, json.dumps(data).encode("utf-8")


def _html(status: int, message: str) -> tuple[int, dict[str, str], bytes]:
    body = f"<html><head><title>Error {status}</title></head><body><h2>HTTP ERROR {status}</h2><p>{message}</p></body>"
    return status, {"Content-Type": "text/html;charset=utf-8"}, body.encode("utf-8")
