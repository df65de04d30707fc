"""The one retry policy of every HTTP adapter (MLflow, GitHub; next GitLab, Bitbucket, Jenkins).

A call is tried at most `max_attempts` times and may spend at most `budget` seconds waiting in
all; a single wait the server asks for (Retry-After, a rate-limit reset) longer than `max_wait`
is not waited for. Connection errors, 429 and 5xx are retried; other 4xx never. A server's
Retry-After (seconds or an HTTP date) wins over the adapter's exponential backoff. Every retry
is announced in one line on stderr (`retry_notice`), so a server that is down is never minutes
of silence. The adapters keep only what is theirs: which responses mean "retry" (GitHub's 403
rate limit) and how their library is hooked in.

`describe_connection_error` puts a dropped or refused connection in a few words: urllib3's and
requests' messages are long and nested ("HTTPConnectionPool(...): Max retries exceeded ...
[Errno 111] Connection refused"); a retry line or an error wants "connection refused".
"""

from __future__ import annotations

import dataclasses
import math
import random
import sys
import time
from collections.abc import Callable

RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})


def say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


@dataclasses.dataclass(frozen=True, kw_only=True)
class RetryPolicy:
    """How often to try and how long to wait; the clocks and `sleep` are injectable so tests do not wait."""

    max_attempts: int  # per call, the first included
    budget: float = math.inf  # seconds of waiting a call may spend in all
    max_wait: float = math.inf  # the longest single wait a server may ask for
    base_delay: float = 1.0  # backoff: base_delay * 2 ** (retry - 1), capped at max_delay
    max_delay: float = 30.0
    jitter: bool = False  # each backoff scaled by a random factor in [0.5, 1)
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic  # for the budget
    now: Callable[[], float] = time.time  # wall time, for HTTP dates and rate-limit resets
    progress: Callable[[str], None] = say

    def backoff(self, retry_number: int) -> float:
        """The wait before retry `retry_number` (1, 2, ...) when the server did not say how long."""
        delay = min(self.max_delay, self.base_delay * 2 ** (retry_number - 1))
        return delay * (0.5 + random.random() / 2) if self.jitter else delay  # noqa: S311 - jitter


def retry_after_seconds(value: str | None, now: float) -> float | None:
    """A Retry-After header in seconds (a number of seconds, or an HTTP date), None if absent or unreadable."""
    if not value or not value.strip():
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        import email.utils  # an HTTP date is rare: servers send seconds

        try:
            return max(0.0, email.utils.parsedate_to_datetime(value).timestamp() - now)
        except (TypeError, ValueError):
            return None
    return max(0.0, seconds) if math.isfinite(seconds) else None


def retry_notice(what: str, wait: float, next_attempt: int, attempts: int, reason: str) -> str:
    """The line announcing a retry: `ci-track: retrying experiments/get-by-name in 2.0 s (attempt 2 of 6): HTTP 503`."""
    return f"ci-track: retrying {what} in {wait:.1f} s (attempt {next_attempt} of {attempts}): {reason}"


def describe_connection_error(error: BaseException | None) -> str:
    text = str(error)
    if "Connection refused" in text:
        return "connection refused"
    if "timed out" in text.lower() or type(error).__name__ in ("Timeout", "ReadTimeout", "ConnectTimeout"):
        return "timed out"
    if "RemoteDisconnected" in text or "Connection aborted" in text or "Connection reset" in text:
        return "connection dropped"
    if "Name or service not known" in text or "Failed to resolve" in text:
        return "host name not found"
    return type(error).__name__
