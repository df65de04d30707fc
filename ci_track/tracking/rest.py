"""The MLflow REST transport: one pooled `requests` session, authentication, and the retry policy.

`MlflowRest` sends one API call (`_call`) with transport.RetryPolicy's rules: connection errors,
429 and 5xx retried with backoff within the call's budget (Retry-After honoured), other 4xx never,
each retry announced in one line on stderr. Server errors become `TrackingError` carrying MLflow's
`error_code`; requests' exceptions never leave this module. The endpoints are in tracking/client.py.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import requests
from requests.adapters import HTTPAdapter

from ci_track.errors import NotFoundError, TrackingError
from ci_track.settings import TrackingSettings
from ci_track.tracking import capabilities as server_capabilities
from ci_track.tracking.batches import dumps
from ci_track.tracking.capabilities import ServerCapabilities
from ci_track.transport import (
    RETRYABLE_STATUSES,
    RetryPolicy,
    describe_connection_error,
    retry_after_seconds,
    retry_notice,
    say,
)

if TYPE_CHECKING:
    from ci_track.tracking.databricks_auth import OAuthM2M

API_PREFIX = "/api/2.0/mlflow/"


class MlflowRest:
    """A session to one tracking server, with its settings, credentials and retry policy."""

    def __init__(
        self,
        settings: TrackingSettings,
        *,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        progress: Callable[[str], None] | None = None,
        capabilities: ServerCapabilities | None = None,  # known already: no probe (tests; a caller that knows)
    ) -> None:
        self.settings = settings
        self.request_count = 0  # HTTP attempts made, retries included (benchmarks and tests read it)
        if capabilities is None and (settings.ui_base is not None or server_capabilities.is_databricks(settings.uri)):
            capabilities = server_capabilities.DATABRICKS  # managed MLflow: never probed, the newest generation
        self._capabilities = capabilities
        # MLflow's own client backs off from 0.5 s, with jitter; the budget bounds a call's waiting
        self.retry = RetryPolicy(
            max_attempts=settings.max_attempts,
            budget=settings.retry_budget,
            base_delay=0.5,
            max_delay=10.0,
            jitter=True,
            sleep=sleep,
            clock=clock,
            progress=progress or say,
        )
        self._session = session or requests.Session()
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=8, max_retries=0)
        self._session.mount("http://", adapter)
        self._session.mount("https://", adapter)
        self.oauth: OAuthM2M | None = None
        if settings.username and settings.password is not None:
            self._session.auth = (settings.username, settings.password)  # Basic wins over a token, as in MLflow
        elif settings.token:
            self._session.headers["Authorization"] = f"Bearer {settings.token}"
        elif settings.databricks is not None and settings.databricks.uses_oauth:
            from ci_track.tracking.databricks_auth import OAuthM2M  # Databricks only: its configparser too

            self.oauth = OAuthM2M(
                settings.databricks, self._session, timeout=settings.timeout, verify=settings.verify, clock=clock
            )
            self._session.auth = self.oauth
        self._session.headers["User-Agent"] = "ci-track"
        self._session.verify = settings.verify
        if settings.client_cert:
            self._session.cert = settings.client_cert

    @property
    def uri(self) -> str:
        return self.settings.uri

    def close(self) -> None:
        self._session.close()

    @property
    def capabilities(self) -> ServerCapabilities:
        """What this server accepts, probed once (GET <uri>/version) the first time it matters."""
        if self._capabilities is None:
            self.request_count += 1
            self._capabilities = server_capabilities.probe(
                self._session, self.uri, timeout=self.settings.timeout, verify=self.settings.verify
            )
        return self._capabilities

    def child_credentials(self) -> dict[str, str]:
        """Credentials for a training script's own MLflow client (the URI it gets carries none).

        For Databricks the script gets `databricks[://PROFILE]` back as its tracking URI: its MLflow
        client reads the same profile, or the DATABRICKS_* variables it inherits.
        """
        if self.settings.child_uri:
            return {"MLFLOW_TRACKING_URI": self.settings.child_uri}
        if self.settings.username and self.settings.password is not None:
            return {
                "MLFLOW_TRACKING_USERNAME": self.settings.username,
                "MLFLOW_TRACKING_PASSWORD": self.settings.password,
            }
        return {}

    def _call(
        self,
        method: str,
        endpoint: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Mapping[str, Any] | None = None,
        before_retry: Callable[[], dict[str, Any] | None] | None = None,
    ) -> dict[str, Any]:
        """One API call with retries. `before_retry` may return the answer a lost attempt already caused."""
        url = self.settings.uri + API_PREFIX + endpoint
        policy = self.retry
        deadline = policy.clock() + policy.budget
        attempt = 0
        while True:
            attempt += 1
            failure: str
            wait: float | None = None
            try:
                self.request_count += 1
                response = self._session.request(
                    method,
                    url,
                    params=params,
                    data=None if json is None else dumps(json),
                    headers={"Content-Type": "application/json"} if json is not None else None,
                    timeout=self.settings.timeout,
                    # explicit, or REQUESTS_CA_BUNDLE (set on many CI images) would override the MLflow variables
                    verify=self.settings.verify,
                )
            except requests.exceptions.SSLError as error:
                raise TrackingError(
                    f"TLS error talking to the MLflow tracking server at {self.uri}: "
                    f"{describe_connection_error(error)} "
                    "(set MLFLOW_TRACKING_SERVER_CERT_PATH to your CA bundle)",
                    url=self.uri,
                ) from None
            except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as error:
                failure = describe_connection_error(error)
            else:
                if response.status_code < 400:
                    return _json_body(response, self.uri, endpoint)
                if response.status_code not in RETRYABLE_STATUSES:
                    raise _http_error(response, self.uri, endpoint)
                failure = f"HTTP {response.status_code}"
                wait = retry_after_seconds(response.headers.get("Retry-After"), policy.now())
            if attempt >= policy.max_attempts:
                break
            if wait is None:
                wait = policy.backoff(attempt)
            if policy.clock() + wait > deadline:
                break
            policy.progress(retry_notice(endpoint, wait, attempt + 1, policy.max_attempts, failure))
            policy.sleep(wait)
            if before_retry is not None and failure != "HTTP 429":  # a 429 was refused, not processed
                try:
                    earlier = before_retry()
                except TrackingError:
                    earlier = None  # could not tell: retrying is still right, the next lookup may answer
                if earlier is not None:
                    return earlier
        raise TrackingError(
            f"cannot reach the MLflow tracking server at {self.uri}: {failure} "
            f"(gave up after {attempt} attempt{'s' if attempt > 1 else ''} on {endpoint})",
            url=self.uri,
        )


def _json_body(response: requests.Response, base: str, endpoint: str) -> dict[str, Any]:
    if not response.content:
        return {}
    try:
        body = response.json()
    except ValueError:
        raise TrackingError(
            f"{base} answered {endpoint} with something that is not JSON: is it an MLflow tracking server?",
            url=base,
            status=response.status_code,
        ) from None
    if not isinstance(body, dict):
        raise TrackingError(f"{base} answered {endpoint} with unexpected JSON", url=base)
    return body


def _http_error(response: requests.Response, base: str, endpoint: str) -> TrackingError:
    status = response.status_code
    error_code: str | None = None
    message = ""
    try:
        body = response.json()
        if isinstance(body, dict):
            error_code = body.get("error_code")
            message = str(body.get("message", ""))
    except ValueError:
        message = response.text.strip()[:200]
    if status == 401:
        return TrackingError(
            f"the MLflow tracking server at {base} refused the credentials (HTTP 401): check "
            "MLFLOW_TRACKING_USERNAME/MLFLOW_TRACKING_PASSWORD or MLFLOW_TRACKING_TOKEN",
            url=base,
            status=status,
            error_code=error_code,
        )
    if status == 403 and "Invalid Host header" in message:
        return TrackingError(
            f"the MLflow tracking server at {base} rejected the Host header (HTTP 403): start it with "
            "--allowed-hosts including this host name",
            url=base,
            status=status,
        )
    if status == 403:
        return TrackingError(
            f"the MLflow tracking server at {base} denied {endpoint} (HTTP 403): {message or 'permission denied'}",
            url=base,
            status=status,
            error_code=error_code,
        )
    if error_code is None and status in (404, 405):
        return TrackingError(
            f"{base} has no MLflow API at {API_PREFIX}{endpoint} (HTTP {status}): is it an MLflow tracking server?",
            url=base,
            status=status,
        )
    cls = NotFoundError if error_code == "RESOURCE_DOES_NOT_EXIST" else TrackingError
    first_line = message.splitlines()[0] if message else f"HTTP {status}"
    return cls(
        f"MLflow {error_code or status}: {first_line}",
        url=base,
        status=status,
        error_code=error_code,
    )
