"""A counting reverse proxy on 127.0.0.1: every request a client makes to a server, and the bytes it moved.

Benchmarks point a client (ci-track, or a script on the mlflow client) at `proxy.url` instead of
the server's URL and read `proxy.requests` afterwards. It forwards everything untouched; it is
only used for counting, never for timing (it adds a hop and a new upstream connection per request).
"""

from __future__ import annotations

import contextlib
import dataclasses
import http.client
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

# Hop-by-hop headers belong to each connection, not to the message (RFC 9110 7.6.1).
_HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer", "transfer-encoding"}
    | {"upgrade", "content-length"}
)


@dataclasses.dataclass(frozen=True)
class Counted:
    method: str
    path: str
    status: int
    request_bytes: int
    response_bytes: int
    body: bytes = dataclasses.field(default=b"", repr=False)  # the request body, for benchmarks that look inside
    seconds: float = 0.0  # from forwarding the request to having the whole answer: the server's share

    @property
    def endpoint(self) -> str:
        """`runs/search` for /api/2.0/mlflow/runs/search?x=y."""
        path = self.path.split("?", 1)[0]
        marker = "/mlflow/"
        return path.split(marker, 1)[1] if marker in path else path


class CountingProxy:
    def __init__(self, upstream: str) -> None:
        parts = urlsplit(upstream)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"upstream must be an http:// URL, got {upstream!r}")
        self.upstream_host = parts.hostname
        self.upstream_port = parts.port or 80
        self.requests: list[Counted] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self._server is not None, "proxy not started"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> CountingProxy:
        proxy = self

        class Handler(_Handler):
            owner = proxy

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="counting-proxy", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()

    def api_requests(self) -> list[Counted]:
        """Requests to the MLflow REST API (what a CI step pays for); health probes are left out."""
        with self._lock:
            return [r for r in self.requests if "/api/" in r.path]

    def record(self, entry: Counted) -> None:
        with self._lock:
            self.requests.append(entry)


class _Handler(BaseHTTPRequestHandler):
    owner: CountingProxy
    protocol_version = "HTTP/1.1"  # keep-alive, as the real server speaks it

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        owner = self.owner
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        connection = http.client.HTTPConnection(owner.upstream_host, owner.upstream_port, timeout=600)
        started = time.perf_counter()
        try:
            headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
            headers["Content-Length"] = str(len(body))
            connection.request(self.command, self.path, body=body, headers=headers)
            response = connection.getresponse()
            answer = response.read()
            status, reason, reply_headers = response.status, response.reason, response.getheaders()
        finally:
            connection.close()
        elapsed = time.perf_counter() - started
        owner.record(Counted(self.command, self.path, status, len(body), len(answer), body, elapsed))
        self.send_response(status, reason)
        for name, value in reply_headers:
            if name.lower() not in _HOP_BY_HOP:
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(answer)

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_GET


@contextlib.contextmanager
def counting_proxy(upstream: str) -> Iterator[CountingProxy]:
    proxy = CountingProxy(upstream).start()
    try:
        yield proxy
    finally:
        proxy.stop()
