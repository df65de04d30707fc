"""What the forge fakes (GitHub, GitLab, Bitbucket) share: a loopback HTTP server whose every request and
response is validated against the forge's OpenAPI subset (tests/contracts/), with state, a request log,
faults, rendezvous for races, pagination helpers, and a state file and a command line for tests that
run the fake as a separate process.

A forge fake subclasses `RestFake` and supplies its handlers (one per operationId of its subset: the
fake refuses to start when the two disagree), how it authenticates, and how it answers a fault (its
own error bodies); everything else, the contract checks above all, lives here once.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import math
import os
import signal
import tempfile
import threading
import urllib.parse
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from tests.fakes.openapi_contract import OpenApiContract, Operation, Violation

# the faults of the GitLab and Bitbucket fakes; the fake GitHub has its own (fake_github.FAULT_KINDS)
FAULT_KINDS = ("unauthorized", "forbidden", "not-found", "bad-request", "unprocessable", "rate-limit", "server-error")


@dataclasses.dataclass
class Fault:
    kind: str  # one of the fake's `fault_kinds` (checked by `RestFake.fail`)
    times: int
    operation: str | None = None  # an operationId, or None for every operation
    retry_after: int | None = None
    status: int | None = None  # another status than the kind's own (GitHub: 502, 503...)


@dataclasses.dataclass
class Reply:
    status: int
    body: Any = None  # JSON-able; None means no body; a str is sent as text/plain
    headers: dict[str, str] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class Call:
    """What the handler of one operation gets."""

    method: str
    path: str  # without the fake's optional prefix (GitHub Enterprise's /api/v3)
    params: dict[str, str]
    query: dict[str, list[str]]
    body: Any
    base_url: str  # http://127.0.0.1:PORT, with the prefix the request came under
    prefix: str = ""

    def query_value(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else None

    def int_value(self, name: str, default: int) -> int:
        """An integer query parameter (the contract has checked it is one), or `default`."""
        raw = self.query_value(name)
        return int(raw) if raw else default

    def last_values(self) -> dict[str, str]:
        """The query with the last value of each parameter, as a forge reads it."""
        return _last_values(self.query)


def page_of(items: Sequence[Any], page: int, per_page: int) -> tuple[list[Any], int]:
    """The `page`-th slice (from 1) of `per_page` items, and how many pages there are (at least one)."""
    return list(items[(page - 1) * per_page : page * per_page]), max(1, math.ceil(len(items) / per_page))


def link(url: str, query: Mapping[str, Any], rel: str) -> str:
    """One entry of an RFC 8288 `Link` header, as GitHub and GitLab paginate."""
    return f'<{url}?{urllib.parse.urlencode(query)}>; rel="{rel}"'


def _last_values(query: Mapping[str, list[str]]) -> dict[str, str]:
    return {k: v[-1] for k, v in query.items()}


RestFakeT = TypeVar("RestFakeT", bound="RestFake")


class RestFake:
    """The state-independent machinery; subclasses set `name`, `handlers`, `authenticate`, `fault_reply`."""

    name = "fake"
    fault_kinds: tuple[str, ...] = FAULT_KINDS
    prefix = ""  # a base path the API is also served under (GitHub Enterprise: /api/v3)
    json_type = "application/json"
    first_ids: ClassVar[Mapping[str, int]] = {}  # kind -> the id before the first: ids that look like the forge's

    def __init__(self, *, token: str, contract: OpenApiContract, state_file: Path | None = None) -> None:
        self.token = token
        self.contract = contract
        self.state_file = state_file
        self.requests: list[dict[str, Any]] = []
        self.violations: list[Violation] = []
        self.faults: list[Fault] = []
        self._rendezvous: dict[str, threading.Barrier] = {}
        self._ids = dict(self.first_ids)
        self._lock = threading.RLock()
        self.port: int | None = None
        self._server: ThreadingHTTPServer | None = None
        missing = {op.operation_id for op in self.contract.operations} ^ set(self.handlers())
        if missing:
            raise RuntimeError(f"the fake and its subset disagree on operations: {sorted(missing)}")

    # -- what a forge fake supplies ------------------------------------------------------------
    def handlers(self) -> dict[str, Callable[[Call], Reply]]:
        raise NotImplementedError

    def authenticate(self, headers: Mapping[str, str]) -> Reply | None:
        """None when the request carries the token; else the forge's own 401."""
        raise NotImplementedError

    def fault_reply(self, fault: Fault) -> Reply:
        raise NotImplementedError

    def invalid_reply(self, problems: list[str]) -> Reply:
        """The answer to a request the contract refuses (the violation is recorded already)."""
        return self.fault_reply(Fault("bad-request", 1))

    def common_headers(self, reply: Reply) -> dict[str, str]:
        return {}

    def snapshot_state(self) -> dict[str, Any]:
        return {}

    def next_id(self, kind: str) -> int:
        self._ids[kind] += 1
        return self._ids[kind]

    # -- tests drive it -----------------------------------------------------------------------
    def fail(
        self,
        kind: str,
        *,
        times: int = 1,
        operation: str | None = None,
        retry_after: int | None = None,
        status: int | None = None,
    ) -> None:
        """Make the next `times` requests of `operation` (an operationId; None = any) fail as `kind`."""
        if kind not in self.fault_kinds:
            raise ValueError(f"unknown fault kind {kind!r}; choose from {', '.join(self.fault_kinds)}")
        if operation is not None and operation not in self.handlers():
            raise ValueError(f"unknown operation {operation!r}")
        with self._lock:
            self.faults.append(Fault(kind, times, operation, retry_after, status))

    def rendezvous(self, operation: str, parties: int, *, timeout: float = 30.0) -> None:
        """Hold requests of `operation` until `parties` of them arrived, then serve them all.

        It makes races reproducible: two posters that both looked and found no comment.
        """
        self._rendezvous[operation] = threading.Barrier(parties, timeout=timeout)

    def requests_for(self, operation: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            return [r for r in self.requests if operation is None or r["operation"] == operation]

    def reset_requests(self) -> None:
        with self._lock:
            self.requests.clear()

    def assert_no_violations(self) -> None:
        with self._lock:
            problems = list(self.violations)
        assert not problems, f"the fake {self.name} saw contract violations:\n" + "\n".join(map(str, problems))

    @property
    def url(self) -> str:
        if self.port is None:
            raise RuntimeError("the fake is not serving")
        return f"http://127.0.0.1:{self.port}"

    def serve(self, port: int = 0) -> None:
        fake = self

        class Handler(_Handler):
            pass

        Handler.fake = fake
        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        # a short poll: shutdown() waits for it, and tests stop many fakes
        serve = lambda: self._server.serve_forever(poll_interval=0.02) if self._server else None  # noqa: E731
        threading.Thread(target=serve, name=f"fake-{self.name}", daemon=True).start()
        self.changed()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "url": self.url if self.port else None,
                **self.snapshot_state(),
                "requests": list(self.requests),
                "violations": [dataclasses.asdict(v) for v in self.violations],
                "faults": [dataclasses.asdict(f) for f in self.faults],
            }

    def changed(self) -> None:
        if self.state_file is None:
            return
        text = json.dumps(self.snapshot(), indent=1)
        # write-then-rename, so a process reading the file never sees half of it
        fd, tmp = tempfile.mkstemp(dir=self.state_file.parent, prefix=f".fake-{self.name}-", suffix=".json")
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, self.state_file)

    # -- one request ---------------------------------------------------------------------------
    def handle(
        self, method: str, raw_path: str, headers: Mapping[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        split = urllib.parse.urlsplit(raw_path)
        # a project path arrives URL-encoded (group%2Fsub%2Fproj): match on the raw path, decode the values
        path = split.path
        query = urllib.parse.parse_qs(split.query, keep_blank_values=True)
        prefix = ""
        if self.prefix and (path == self.prefix or path.startswith(self.prefix + "/")):
            prefix, path = self.prefix, path[len(self.prefix) :] or "/"
        matched = self.contract.match(method, path)
        barrier = self._rendezvous.get(matched[0].operation_id) if matched else None
        if barrier is not None:
            barrier.wait()  # outside the lock: the other parties must be able to arrive
        with self._lock:
            reply, op = self._dispatch(method, path, prefix, query, headers, body, matched)
            reply.headers.update(self.common_headers(reply))
            if isinstance(reply.body, str):
                payload = reply.body.encode("utf-8")
                reply.headers["content-type"] = "text/plain; charset=utf-8"
            else:
                payload = b"" if reply.body is None else json.dumps(reply.body).encode("utf-8")
                if payload:
                    reply.headers["content-type"] = self.json_type
            if op is not None:
                for problem in self.contract.check_response(op, reply.status, reply.headers, payload):
                    self._violation("response", method, raw_path, op, reply.status, problem)
            self.requests.append(
                {
                    "method": method,
                    "path": split.path,
                    "prefix": prefix,
                    "query": _last_values(query),
                    "operation": op.operation_id if op else None,
                    "status": reply.status,
                    "body": _json_or_text(body),
                    "authorization": _scheme(headers),
                }
            )
            self.changed()
            return reply.status, reply.headers, payload

    def _dispatch(
        self,
        method: str,
        path: str,
        prefix: str,
        query: dict[str, list[str]],
        headers: Mapping[str, str],
        body: bytes,
        matched: tuple[Operation, dict[str, str]] | None,
    ) -> tuple[Reply, Operation | None]:
        if matched is None:
            self._violation("request", method, path, None, None, "no operation of the subset matches")
            return self.fault_reply(Fault("not-found", 1)), None
        op, params = matched
        denied = self.authenticate(headers)
        if denied is not None:
            return denied, op
        problems = self.contract.check_request(op, params, query, headers.get("content-type", ""), body)
        for problem in problems:
            self._violation("request", method, path, op, None, problem)
        fault = self._take_fault(op.operation_id)
        if fault is not None:
            return self.fault_reply(fault), op
        if problems:
            return self.invalid_reply(problems), op
        document = json.loads(body) if body.strip() else None
        call = Call(method, path, params, query, document, f"{self.url}{prefix}", prefix)
        return self.handlers()[op.operation_id](call), op

    def _violation(
        self, direction: str, method: str, path: str, op: Operation | None, status: int | None, problem: str
    ) -> None:
        self.violations.append(Violation(direction, method, path, op.operation_id if op else None, status, problem))

    def _take_fault(self, operation: str) -> Fault | None:
        for fault in self.faults:
            if fault.times > 0 and fault.operation in (None, operation):
                fault.times -= 1
                if fault.times == 0:
                    self.faults.remove(fault)
                return fault
        return None

    def control(self, method: str, path: str, body: bytes) -> tuple[int, dict[str, str], bytes]:
        """Test-only endpoints for another process: GET /_fake/state, POST /_fake/faults."""
        json_type = {"content-type": "application/json"}
        if method == "GET" and path == "/_fake/state":
            return 200, json_type, json.dumps(self.snapshot()).encode()
        if method == "POST" and path == "/_fake/faults":
            spec = json.loads(body or b"{}")
            self.fail(
                spec["kind"],
                times=int(spec.get("times", 1)),
                operation=spec.get("operation"),
                retry_after=spec.get("retry_after"),
                status=spec.get("status"),
            )
            return 200, json_type, b'{"ok": true}'
        return 404, json_type, b'{"message": "Not Found"}'


def _scheme(headers: Mapping[str, str]) -> str | None:
    """Which way the token came (never the token): `bearer`, `private-token` or None."""
    if headers.get("private-token"):
        return "private-token"
    auth = headers.get("authorization", "")
    return auth.partition(" ")[0].lower() or None


def _json_or_text(body: bytes) -> Any:
    if not body:
        return None
    try:
        return json.loads(body)
    except ValueError:
        return body.decode("utf-8", "replace")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as pooled client connections expect
    fake: RestFake

    def _serve(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        path = urllib.parse.urlsplit(self.path).path
        try:
            if path.startswith("/_fake/"):
                status, reply_headers, payload = self.fake.control(self.command, path, body)
            else:
                status, reply_headers, payload = self.fake.handle(self.command, self.path, headers, body)
        except Exception as exc:  # noqa: BLE001 - a bug in the fake must fail the test, not hang the client
            self.fake.violations.append(Violation("fake", self.command, self.path, None, 500, repr(exc)))
            status, reply_headers, payload = 500, {}, b'{"message": "the fake crashed"}'
        self.send_response(status)
        for name, value in reply_headers.items():
            self.send_header(name, value)
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        if payload and self.command != "HEAD":
            self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _serve

    def log_message(self, format: str, *args: Any) -> None:  # the fake's own log stays quiet
        return


@contextlib.contextmanager
def serving(fake: RestFakeT) -> Iterator[RestFakeT]:
    """`fake` on a loopback port for the block; stopped on exit.

    Test modules wrap this in a fixture that calls `fake.assert_no_violations()` after the test.
    """
    fake.serve()
    try:
        yield fake
    finally:
        fake.stop()


def serve_checked(running: AbstractContextManager[RestFakeT]) -> Iterator[RestFakeT]:
    """For a fixture, `yield from serve_checked(running_fake_x(...))`: the serving fake for the test,
    then the test fails on any contract violation the fake saw (one it asserted it clears first)."""
    with running as fake:
        yield fake
        fake.assert_no_violations()


def command_line(description: str, token: str) -> argparse.ArgumentParser:
    """The options every fake takes as a process; a forge's main() adds how to seed it."""
    parser = argparse.ArgumentParser(description=f"{description} on 127.0.0.1 (for end-to-end tests).")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port (printed on stdout)")
    parser.add_argument("--state", type=Path, required=True, help="JSON file rewritten after every request")
    parser.add_argument("--token", default=token)
    return parser


def serve_until_signalled(fake: RestFake, port: int, announce: Callable[[], dict[str, Any]]) -> int:
    """Serve on `port`, print `announce()` (the URL first) as one JSON line, stop on SIGTERM or SIGINT."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    fake.serve(port)
    print(json.dumps({"url": fake.url, **announce()}), flush=True)
    stop.wait()
    fake.stop()
    return 0
