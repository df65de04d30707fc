"""The one place ci-track reads its own process environment.

Every command starts with `settings.environment()`: a read-only snapshot of the variables,
taken once, that is handed down as a plain `Mapping` to everything below `commands/` (the
tracking client's settings, the CI context, the GitHub settings, the rules' overrides). Nothing
below `commands/` reads `os.environ`; a test builds the same mapping by hand.

The only other reader is the process runner (ci_track/training/process.py), and only to give the
training command the environment it would have had without ci-track.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from types import MappingProxyType

KILL_GRACE_SECONDS = 10.0  # SIGTERM -> SIGKILL for the training command's process group


def environment() -> Mapping[str, str]:
    """A read-only snapshot of the environment (secrets inside: never printed; see secrets.redact)."""
    return MappingProxyType(dict(os.environ))


def live_environment() -> Mapping[str, str]:
    """The environment as it is now, for redaction of messages written at any time (secrets.py)."""
    return os.environ


def kill_grace(environ: Mapping[str, str]) -> float:
    """CI_TRACK_KILL_GRACE: seconds between SIGTERM and SIGKILL for an interrupted training command."""
    return float(environ.get("CI_TRACK_KILL_GRACE", KILL_GRACE_SECONDS))
