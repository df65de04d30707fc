"""Starts and stops a real `mlflow server` on 127.0.0.1 for tests, the demo and benchmarks.

Fast-start flags from shared/notes/mlflow.md: one worker, job execution off, sqlite store. The
flags used are the same on MLflow 2.9 to 3.x, so `mlflow_bin` may name an older server's venv.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def mlflow_executable() -> str:
    """The `mlflow` next to the running interpreter (the test venv), else the one on PATH."""
    candidate = Path(sys.executable).with_name("mlflow")
    return str(candidate) if candidate.exists() else "mlflow"


@dataclasses.dataclass
class MlflowServer:
    root: Path
    port: int
    backend_uri: str
    extra_args: Sequence[str] = ()
    extra_env: Mapping[str, str] = dataclasses.field(default_factory=dict)
    workers: int = 1
    mlflow_bin: str | None = None  # another venv's `mlflow` (the server-version matrix); default: this venv's
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.root / "server.log"

    def start(self, timeout: float = 240.0) -> None:
        # Generous: on 2 cores busy with three test workers, a 4-worker server over PostgreSQL was seen to
        # answer after 90 s; a server that cannot start exits early (checked every 0.25 s below).
        self.root.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", **self.extra_env}
        for name in ("MLFLOW_TRACKING_URI", "MLFLOW_RUN_ID", "MLFLOW_EXPERIMENT_ID", "MLFLOW_EXPERIMENT_NAME"):
            env.pop(name, None)
        command = [
            self.mlflow_bin or mlflow_executable(),
            "server",
            "--backend-store-uri",
            self.backend_uri,
            "--default-artifact-root",
            str(self.root / "artifacts"),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--workers",
            str(self.workers),
            *self.extra_args,
        ]
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=self.root, start_new_session=True
        )
        self._wait_ready(timeout)

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        # /health skips the host check: also ask a real API endpoint before declaring the server ready.
        probe = f"{self.url}/api/2.0/mlflow/experiments/get-by-name?experiment_name=Default"
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"mlflow server exited early:\n{self.log_path.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(probe, timeout=2) as response:
                    if response.status == 200:
                        return
            except urllib.error.HTTPError as error:
                if error.code in (401, 404):  # an auth server answers 401: it is up
                    return
            except OSError:
                pass
            time.sleep(0.25)
        self.stop()
        raise RuntimeError(f"mlflow server not ready after {timeout}s:\n{self.log_path.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=5)


@contextlib.contextmanager
def running_server(root: Path, **kwargs: object) -> Iterator[MlflowServer]:
    backend = kwargs.pop("backend_uri", None) or f"sqlite:///{root / 'mlflow.db'}"
    server = MlflowServer(root=root, port=int(kwargs.pop("port", 0)) or free_port(), backend_uri=str(backend), **kwargs)  # type: ignore[arg-type]
    server.start()
    try:
        yield server
    finally:
        server.stop()
