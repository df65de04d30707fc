"""A fault-injecting HTTP reverse proxy on 127.0.0.1, put between ci-track and a real server.

Tests point ci-track (and the MLflow client inside a training script) at the proxy's URL. Per
request, a seeded RNG decides at a configured rate whether to inject one of these faults:

- ``drop``: read the request, then close the connection without answering (never forwarded);
- ``503`` / ``429``: answer with that status and a small ``Retry-After`` (never forwarded);
- any other three-digit status (``500``, ``403``, ...): answer with it and a JSON error body (never forwarded);
- ``stall``: hold the request longer than the client's timeout, then close (never forwarded);
- ``drop_response``: forward the request to the server, then close without relaying the answer.

The first four are decided BEFORE forwarding, so the server never sees a faulted request: a client
that retries them cannot create duplicates, and what the test then reads back from the server is
what the client really achieved. ``drop_response`` is the opposite case on purpose: the write
happened but the client cannot know it, the question of what a retried non-idempotent call does
(see docs/reliability.md). It is only injected when asked for.

`rendezvous(predicate, parties)` holds the first `parties` requests matching `predicate` until all of
them have arrived and then forwards them together, once: it makes a race reproducible (ten
processes that all look for a PR comment before any of them has created one).

At rate 0 it is a plain recording proxy: `counting_proxy(upstream)` forwards everything untouched
and records every request with its bytes and the server's time, which is how bench/ counts the
requests of a command (never its timing: the proxy adds a hop and an upstream connection a request).
The same class (with ``ssl_context``) is the TLS terminator of tests/fakes/tls_terminator.py.
"""

from __future__ import annotations

import contextlib
import dataclasses
import http.client
import random
import socket
import ssl
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

BEFORE_FORWARD_FAULTS = ("drop", "503", "429", "stall")
ALL_FAULTS = (*BEFORE_FORWARD_FAULTS, "drop_response")

# Hop-by-hop headers (RFC 9110 7.6.1) are the proxy's own business, not forwarded.
_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "content-length",
    }
)


@dataclasses.dataclass(frozen=True)
class ProxiedRequest:
    """One request the proxy received, and what it did with it (None: forwarded untouched)."""

    method: str
    path: str
    fault: str | None
    upstream_status: int | None
    request_bytes: int = 0
    response_bytes: int = 0  # what the server answered (before any URL rewrite); 0 when not forwarded
    body: bytes = dataclasses.field(default=b"", repr=False)  # the request body, for benchmarks that look inside
    seconds: float = 0.0  # from forwarding the request to having the whole answer: the server's share

    @property
    def endpoint(self) -> str:
        """`runs/search` for /api/2.0/mlflow/runs/search?x=y."""
        path = self.path.split("?", 1)[0]
        marker = "/mlflow/"
        return path.split(marker, 1)[1] if marker in path else path


def api_only(method: str, path: str) -> bool:
    """The default fault filter: fault API calls, never health probes or static pages."""
    del method
    return "/api/" in path


class FaultProxy:
    """A threaded reverse proxy to `upstream` that injects faults at `rate` (0 = a plain proxy)."""

    def __init__(
        self,
        upstream: str,
        *,
        rate: float = 0.0,
        seed: int = 0,
        faults: Sequence[str] = BEFORE_FORWARD_FAULTS,
        stall_seconds: float = 3.0,
        retry_after: Sequence[int] = (0, 1),
        max_consecutive: int | None = None,
        should_fault: Callable[[str, str], bool] = api_only,
        ssl_context: ssl.SSLContext | None = None,
        upstream_timeout: float = 60.0,
        rewrite_urls: bool = True,
    ) -> None:
        unknown = {fault for fault in faults if fault not in ALL_FAULTS and not _is_status(fault)}
        if unknown:
            raise ValueError(f"unknown faults {sorted(unknown)}; known: {ALL_FAULTS}")
        parts = urlsplit(upstream)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"upstream must be an http:// URL, got {upstream!r}")
        self.upstream_host = parts.hostname
        self.upstream_port = parts.port or 80
        self.rate = rate
        self.faults = tuple(faults)
        self.stall_seconds = stall_seconds
        self.retry_after = tuple(retry_after)
        # Caps a run of faults in a row, so a seeded test cannot exhaust a client's retries by bad luck.
        self.max_consecutive = max_consecutive
        self.should_fault = should_fault
        self.ssl_context = ssl_context
        self.upstream_timeout = upstream_timeout
        # Like a reverse proxy's ProxyPassReverse: URLs the server puts in answers (the fake GitHub's
        # comment URLs, Link headers for the next page) point back at the proxy, not around it.
        self.rewrite_urls = rewrite_urls
        self.upstream_origin = f"http://{self.upstream_host}:{self.upstream_port}"
        self.injected: Counter[str] = Counter()
        self.requests: list[ProxiedRequest] = []
        self._rng = random.Random(seed)  # noqa: S311 - a reproducible fault sequence, not a secret
        self._lock = threading.Lock()
        self._consecutive = 0
        self._stopping = threading.Event()
        self._rendezvous: tuple[Callable[[str, str], bool], threading.Barrier] | None = None
        self._rendezvous_left = 0
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ---- lifecycle ---------------------------------------------------------------------

    @property
    def port(self) -> int:
        assert self._server is not None, "proxy not started"
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        scheme = "https" if self.ssl_context is not None else "http"
        return f"{scheme}://127.0.0.1:{self.port}"

    def start(self, port: int = 0) -> FaultProxy:
        proxy = self

        class Handler(_ProxyHandler):
            owner = proxy

        server = _Server(("127.0.0.1", port), Handler)
        if self.ssl_context is not None:
            server.socket = self.ssl_context.wrap_socket(server.socket, server_side=True, do_handshake_on_connect=False)
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, name="fault-proxy", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # wakes stalled handlers
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def __enter__(self) -> FaultProxy:
        return self if self._server is not None else self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def rendezvous(self, predicate: Callable[[str, str], bool], parties: int, *, timeout: float = 120.0) -> None:
        """Hold the first `parties` requests matching `predicate` until all have arrived (once)."""
        with self._lock:
            self._rendezvous = (predicate, threading.Barrier(parties, timeout=timeout))
            self._rendezvous_left = parties

    def _wait_at_rendezvous(self, method: str, path: str) -> None:
        with self._lock:
            if self._rendezvous is None or not self._rendezvous[0](method, path) or self._rendezvous_left <= 0:
                return
            self._rendezvous_left -= 1
            barrier = self._rendezvous[1]
        barrier.wait()  # outside the lock, so the other parties can arrive

    # ---- figures -----------------------------------------------------------------------

    @property
    def total_injected(self) -> int:
        with self._lock:
            return sum(self.injected.values())

    @property
    def forwarded(self) -> int:
        with self._lock:
            return sum(1 for r in self.requests if r.fault in (None, "drop_response"))

    def requests_to(self, path_fragment: str) -> list[ProxiedRequest]:
        with self._lock:
            return [r for r in self.requests if path_fragment in r.path]

    def api_requests(self) -> list[ProxiedRequest]:
        """Requests to the REST API (what a CI step pays for); health probes are left out."""
        with self._lock:
            return [r for r in self.requests if api_only(r.method, r.path)]

    def reset(self) -> None:
        """Forget the requests recorded so far (to count the next command alone)."""
        with self._lock:
            self.requests.clear()

    # ---- decisions ---------------------------------------------------------------------

    def decide(self, method: str, path: str) -> str | None:
        """The fault for this request, or None; decided before anything is forwarded."""
        with self._lock:
            if self.rate <= 0 or not self.should_fault(method, path):
                return None
            draw = self._rng.random()
            kind = self._rng.choice(self.faults)
            if draw >= self.rate or (self.max_consecutive is not None and self._consecutive >= self.max_consecutive):
                self._consecutive = 0
                return None
            self._consecutive += 1
            self.injected[kind] += 1
            return kind

    def pick_retry_after(self) -> int:
        with self._lock:
            return self._rng.choice(self.retry_after)

    def record(self, entry: ProxiedRequest) -> None:
        with self._lock:
            self.requests.append(entry)


def _is_status(fault: str) -> bool:
    return len(fault) == 3 and fault.isdigit() and 400 <= int(fault) <= 599


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # a stalled handler must not keep the test process alive
    allow_reuse_address = True


class _ProxyHandler(BaseHTTPRequestHandler):
    owner: FaultProxy
    protocol_version = "HTTP/1.1"  # keep-alive, like a real server: a drop then hits a pooled connection

    def setup(self) -> None:
        if isinstance(self.request, ssl.SSLSocket):
            try:
                self.request.do_handshake()
            except (ssl.SSLError, OSError):
                # The client refused our certificate: that is its right, and the test's point.
                self.close_connection = True
                self.rfile = self.wfile = None  # type: ignore[assignment]
                return
        super().setup()

    def handle(self) -> None:
        if self.rfile is None:
            return
        with contextlib.suppress(ConnectionError, ssl.SSLError, TimeoutError):
            super().handle()

    def finish(self) -> None:
        if self.rfile is None:
            return
        with contextlib.suppress(OSError):
            super().finish()

    def log_message(self, format: str, *args: object) -> None:
        pass  # quiet: the test output is for ci-track's messages

    def do_GET(self) -> None:
        self._proxy()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = do_GET

    def _proxy(self) -> None:
        owner = self.owner
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        fault = owner.decide(self.command, self.path)
        if fault == "drop":
            owner.record(ProxiedRequest(self.command, self.path, fault, None, len(body), body=body))
            self._hang_up()
            return
        if fault is not None and _is_status(fault):
            owner.record(ProxiedRequest(self.command, self.path, fault, None, len(body), body=body))
            payload = b'{"error_code":"TEMPORARILY_UNAVAILABLE","message":"injected fault"}'
            self.send_response(int(fault))
            if fault in ("429", "503"):
                self.send_header("Retry-After", str(owner.pick_retry_after()))
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
            return
        if fault == "stall":
            owner.record(ProxiedRequest(self.command, self.path, fault, None, len(body), body=body))
            owner._stopping.wait(owner.stall_seconds)
            self._hang_up()
            return

        owner._wait_at_rendezvous(self.command, self.path)
        started = time.perf_counter()
        try:
            status, reason, headers, answer = self._forward(body)
        except OSError:
            # The server itself is down: say so the way a gateway does, and let the client retry.
            owner.record(ProxiedRequest(self.command, self.path, "upstream_down", None, len(body), body=body))
            self.send_error(502, "upstream unreachable")
            return
        elapsed = time.perf_counter() - started
        owner.record(ProxiedRequest(self.command, self.path, fault, status, len(body), len(answer), body, elapsed))
        if fault == "drop_response":
            self._hang_up()
            return
        if owner.rewrite_urls:
            answer = answer.replace(owner.upstream_origin.encode(), owner.url.encode())
            headers = [(name, value.replace(owner.upstream_origin, owner.url)) for name, value in headers]
        self.send_response(status, reason)
        for name, value in headers:
            if name.lower() not in _HOP_BY_HOP:
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(answer)

    def _forward(self, body: bytes) -> tuple[int, str, list[tuple[str, str]], bytes]:
        owner = self.owner
        connection = http.client.HTTPConnection(
            owner.upstream_host, owner.upstream_port, timeout=owner.upstream_timeout
        )
        try:
            headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
            headers["Content-Length"] = str(len(body))
            connection.request(self.command, self.path, body=body, headers=headers)
            response = connection.getresponse()
            answer = response.read()
            return response.status, response.reason, response.getheaders(), answer
        finally:
            connection.close()

    def _hang_up(self) -> None:
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)


@contextlib.contextmanager
def fault_proxy(upstream: str, **kwargs: object) -> Iterator[FaultProxy]:
    """`with fault_proxy(server.url, rate=0.3, seed=1) as proxy: ... proxy.url ...`"""
    proxy = FaultProxy(upstream, **kwargs)  # type: ignore[arg-type]
    proxy.start()
    try:
        yield proxy
    finally:
        proxy.stop()


@contextlib.contextmanager
def counting_proxy(upstream: str) -> Iterator[FaultProxy]:
    """A proxy that only records (bench/): no faults, answers relayed byte for byte, a patient upstream."""
    with fault_proxy(upstream, rate=0.0, rewrite_urls=False, upstream_timeout=600.0) as proxy:
        yield proxy
