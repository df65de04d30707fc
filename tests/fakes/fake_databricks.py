"""A loopback stand-in for a Databricks workspace in front of the real MLflow test server.

It plays the two parts of a workspace that ci-track and the MLflow client use:

- the OAuth token endpoint `POST /oidc/v1/token` (client_credentials grant, HTTP Basic client
  authentication, form body), with the discovery documents (`/.well-known/databricks-config`,
  `/oidc/.well-known/oauth-authorization-server`) that the Databricks SDK in a training script
  reads first; it issues a fresh random access token each time, valid for `expires_in` seconds,
  and answers 401 `invalid_client` to wrong credentials;
- the REST API `/api/2.0/mlflow/...` (and any other `/api/`): it checks the bearer token (the
  personal access token, or an access token it issued) and forwards the request to the real MLflow
  server, or answers 401 as Databricks does. Every request's path and Authorization header is
  recorded, so tests can tell which credential each call carried.

Plain http on 127.0.0.1: ci-track accepts an http:// Databricks host, which keeps TLS out of these tests.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import http.client
import json
import secrets
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

TOKEN_PATH = "/oidc/v1/token"
DISCOVERY_PATH = "/oidc/.well-known/oauth-authorization-server"
HOST_METADATA_PATH = "/.well-known/databricks-config"


@dataclasses.dataclass(frozen=True)
class Seen:
    method: str
    path: str
    authorization: str


@dataclasses.dataclass(frozen=True)
class TokenRequest:
    authorization: str
    form: dict[str, list[str]]
    content_type: str


class FakeDatabricks:
    def __init__(
        self,
        backend_url: str,
        *,
        personal_token: str | None = None,
        client_id: str | None = None,
        client_secret: str | None = None,
        expires_in: int = 3600,
    ) -> None:
        self.backend = urlsplit(backend_url)
        self.personal_token = personal_token
        self.client_id = client_id
        self.client_secret = client_secret
        self.expires_in = expires_in
        self.issued: list[str] = []
        self.seen: list[Seen] = []
        self.token_requests: list[TokenRequest] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    # -- what tests read ---------------------------------------------------------------------

    def api_calls(self) -> list[Seen]:
        with self._lock:
            return [seen for seen in self.seen if seen.path.startswith("/api/")]

    def expected_basic(self) -> str:
        pair = f"{self.client_id}:{self.client_secret}".encode()
        return "Basic " + base64.b64encode(pair).decode()

    # -- serving -------------------------------------------------------------------------------

    def _valid_bearer(self, authorization: str) -> bool:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token:
            return False
        with self._lock:
            return token == self.personal_token or token in self.issued

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                return

            def _body(self) -> bytes:
                length = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(length) if length else b""

            def _reply(self, status: int, payload: object) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _handle(self) -> None:
                body = self._body()
                path = urlsplit(self.path).path
                authorization = self.headers.get("Authorization", "")
                with fake._lock:
                    fake.seen.append(Seen(self.command, path, authorization))
                if path == TOKEN_PATH and self.command == "POST":
                    self._token(body, authorization)
                elif path == HOST_METADATA_PATH:
                    # newer Databricks SDKs (in the training script) find the OIDC discovery document here
                    self._reply(200, {"oidc_endpoint": f"{fake.url}/oidc", "workspace_id": "1234567890"})
                elif path == DISCOVERY_PATH:
                    self._reply(
                        200,
                        {
                            "issuer": f"{fake.url}/oidc",
                            "token_endpoint": fake.url + TOKEN_PATH,
                            "authorization_endpoint": f"{fake.url}/oidc/v1/authorize",
                        },
                    )
                elif path.startswith("/api/"):
                    if not fake._valid_bearer(authorization):
                        self._reply(401, {"error_code": "UNAUTHENTICATED", "message": "Invalid access token."})
                    else:
                        self._forward(body)
                else:
                    self._reply(404, {"error_code": "ENDPOINT_NOT_FOUND", "message": f"No API found for {path}"})

            def _token(self, body: bytes, authorization: str) -> None:
                form = parse_qs(body.decode())
                with fake._lock:
                    fake.token_requests.append(TokenRequest(authorization, form, self.headers.get("Content-Type", "")))
                if fake.client_id is None or authorization != fake.expected_basic():
                    self._reply(401, {"error": "invalid_client", "error_description": "Client authentication failed"})
                    return
                if form.get("grant_type") != ["client_credentials"]:
                    self._reply(400, {"error": "unsupported_grant_type"})
                    return
                token = "dbx-oauth-" + secrets.token_hex(12)
                with fake._lock:
                    fake.issued.append(token)
                self._reply(
                    200,
                    {"access_token": token, "token_type": "Bearer", "expires_in": fake.expires_in, "scope": "all-apis"},
                )

            def _forward(self, body: bytes) -> None:
                connection = http.client.HTTPConnection(fake.backend.hostname, fake.backend.port, timeout=60)
                headers = {
                    key: value
                    for key, value in self.headers.items()
                    if key.lower() not in ("host", "authorization", "connection", "content-length")
                }
                try:
                    connection.request(self.command, self.path, body=body or None, headers=headers)
                    answer = connection.getresponse()
                    data = answer.read()
                finally:
                    connection.close()
                self.send_response(answer.status)
                for key, value in answer.getheaders():
                    if key.lower() not in ("connection", "content-length", "transfer-encoding", "server", "date"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_DELETE = do_PATCH = _handle

        return Handler

    def start(self) -> None:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@contextlib.contextmanager
def running_fake_databricks(backend_url: str, **kwargs: object) -> Iterator[FakeDatabricks]:
    fake = FakeDatabricks(backend_url, **kwargs)  # type: ignore[arg-type]
    fake.start()
    try:
        yield fake
    finally:
        fake.stop()
