"""`ci-track.properties`: the file `ci-track run` leaves in a Jenkins workspace for the next step.

`ci-track run` writes it (`RUN_ID=...`, `RUN_URL=...`, `EXPERIMENT_ID=...`), the Jenkins step
archives it, and `ci-track jenkins trigger` reads the archived copy back when the build's
description does not carry the run id.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

FILE_NAME = "ci-track.properties"


def properties_path(environ: Mapping[str, str], cwd: Path) -> Path:
    """CI_TRACK_PROPERTIES_FILE, else ci-track.properties in the Jenkins WORKSPACE (else `cwd`)."""
    return Path(environ.get("CI_TRACK_PROPERTIES_FILE") or Path(environ.get("WORKSPACE") or cwd) / FILE_NAME)


def write_properties(path: Path, values: Mapping[str, str]) -> None:
    """`run-id` -> `RUN_ID=...`, one line a value."""
    lines = [f"{key.upper().replace('-', '_')}={value}" for key, value in values.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def parse_properties(text: str) -> dict[str, str]:
    """`KEY=VALUE` lines of ci-track.properties (`#`/`!` comments; `\\` escapes as java.util.Properties)."""
    result: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in "#!":
            continue
        match = re.match(r"((?:\\.|[^=:\\])*)\s*[=:]?\s*(.*)", line)
        if match is None:  # pragma: no cover - the pattern matches every string
            continue
        key, value = (_unescape_property(part.strip()) for part in match.groups())
        result[key] = value
    return result


def _unescape_property(text: str) -> str:
    escapes = {"n": "\n", "t": "\t", "r": "\r", "f": "\f"}

    def replace(match: re.Match[str]) -> str:
        escaped = match.group(1)
        if escaped.startswith("u") and len(escaped) == 5:
            return chr(int(escaped[1:], 16))
        return escapes.get(escaped, escaped)

    return re.sub(r"\\(u[0-9a-fA-F]{4}|.)", replace, text)
