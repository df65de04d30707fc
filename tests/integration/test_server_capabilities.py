"""What ci-track assumes about a tracking server it cannot ask, and how it reads the version it is told.

The real servers (2.9, 2.22, the pinned 3.x) are probed in test_server_matrix.py; here the
answers no MLflow server gives: no /version endpoint, an HTML page, a refused connection, a 500.
"""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator

import pytest
import requests

from ci_track.settings import TrackingSettings
from ci_track.tracking import capabilities as server_capabilities
from ci_track.tracking.client import MlflowClient
from tests.mlflow_server import free_port


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("3.17.2", (3, 17, 2)),
        ("2.9.2\n", (2, 9, 2)),
        ("2.22.0rc1", (2, 22, 0)),
        ("3.11.0.dev0", (3, 11, 0)),
        ("3.1", (3, 1, 0)),
        ("<!doctype html><html>", None),
        ("", None),
        ("version 3", None),
    ],
)
def test_versions_are_read_from_the_plain_text_mlflow_answers(text: str, expected: object) -> None:
    assert server_capabilities.parse_version(text) == expected


def test_capabilities_follow_the_release_that_brought_them() -> None:
    oldest, last_2x, before_is_null, first_is_null = (
        server_capabilities.from_version(v) for v in ((2, 9, 2), (2, 22, 5), (3, 10, 1), (3, 11, 0))
    )
    assert not oldest.tag_is_null and not last_2x.tag_is_null and not before_is_null.tag_is_null
    assert first_is_null.tag_is_null
    assert not last_2x.logged_models and before_is_null.logged_models


class _Answer(http.server.BaseHTTPRequestHandler):
    status = 200
    body = b""
    paths: list[str]  # set per server by the fixture

    def do_GET(self) -> None:
        self.paths.append(self.path)
        self.send_response(self.status)
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def answering() -> Iterator[type[_Answer]]:
    handler = type("Handler", (_Answer,), {"paths": []})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    handler.url = f"http://127.0.0.1:{server.server_address[1]}"  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield handler
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(
    ("status", "body", "newest", "version"),
    [
        (200, b"2.16.2", False, (2, 16, 2)),
        (404, b"<html>not found</html>", True, None),  # a managed MLflow without the endpoint: newest assumed
        (200, b"<!doctype html><title>app</title>" * 4, True, None),  # a front end answering every path
        (500, b"oops", False, None),  # nothing learnt: the requests every generation accepts
        (401, b"", False, None),
    ],
)
def test_one_probe_of_the_version_endpoint(
    answering: type[_Answer], status: int, body: bytes, newest: bool, version: object
) -> None:
    answering.status, answering.body = status, body
    with MlflowClient(TrackingSettings(uri=answering.url + "/prefix")) as client:  # type: ignore[attr-defined]
        capabilities = client.capabilities
        assert client.capabilities is capabilities
        assert client.request_count == 1
    assert answering.paths == ["/prefix/version"]
    assert capabilities.version == version and capabilities.newest is newest
    assert capabilities.tag_is_null is newest


def test_an_unreachable_server_is_not_guessed_newer_than_it_is() -> None:
    with MlflowClient(TrackingSettings(uri=f"http://127.0.0.1:{free_port()}")) as client:
        capabilities = client.capabilities
    assert capabilities.version is None and not capabilities.tag_is_null
    assert "ConnectionError" in capabilities.description


@pytest.mark.parametrize("host", ["https://adb-123.4.azuredatabricks.net", "https://dbc-1.cloud.databricks.com"])
def test_databricks_is_never_probed(host: str) -> None:
    session = requests.Session()
    session.get = None  # type: ignore[method-assign]  # any request would fail loudly
    with MlflowClient(TrackingSettings(uri=host), session=session) as client:
        capabilities = client.capabilities
        assert client.request_count == 0
    assert capabilities.newest and capabilities.tag_is_null and capabilities.logged_models


def test_the_databricks_environment_is_never_probed() -> None:
    settings = TrackingSettings.from_env({"MLFLOW_TRACKING_URI": "databricks", "DATABRICKS_HOST": "example.invalid"})
    with MlflowClient(settings) as client:
        assert client.capabilities.newest and client.request_count == 0
