"""Collects the reliability figures the tests measure into `build/reliability.json` for the README table.

Tests call `record(request, "faults_survived", proxy.total_injected)` once they have asserted what
the figure claims. Each value is keyed by the test's node id, so a re-run of the same test replaces
its own figure instead of adding to it, and the file is rewritten (atomically, under a lock) on every
call: no session hook is needed for the file to be current. A new pytest session starts the
file afresh. `python -m tests.reliability_figures` prints the markdown table from the file;
`--check README.md` exits 1 when the README's table differs from what the tests measured.

Figures (all summed over the tests that record them):
- bad_input_cases: bad-input corpus cases that passed (exit code, one error line, no traceback)
- faults_injected: faults the proxy injected (drops, 503/429 with Retry-After, stalls, lost responses)
- faults_survived: of those, the ones injected into commands that still completed with the right data
- concurrent_runs: `ci-track run` processes run in parallel against the Postgres-backed server, all landed
- concurrent_comments: `compare --comment` processes run in parallel for one PR
- spool_round_trips: runs whose results were spooled while the server was down and synced later
- hostile_strings: hostile strings checked inert in the rendered comment
- secret_scans: outputs (stdout, stderr, reports, tags, params, spool files) scanned for tokens
- data_lost: metrics, runs or spooled items missing or duplicated after the above (must be 0)
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PATH = REPO_ROOT / "build" / "reliability.json"
PATH_ENV = "CI_TRACK_RELIABILITY_FILE"

FIGURES: Mapping[str, str] = {
    "bad_input_cases": "Bad-input corpus: cases, each with its exit code and one-line message, no traceback",
    "faults_injected": "Faults injected (dropped connections, 503/429 with Retry-After, stalls, lost responses)",
    "faults_survived": "Faults survived by commands that still completed with exactly the right data",
    "concurrent_runs": "Parallel `ci-track run` processes against PostgreSQL-backed MLflow (4 workers), all landed",
    "concurrent_comments": "Parallel `compare --comment` processes for one PR (ending with one comment)",
    "spool_round_trips": "Runs spooled while the server was down, synced exactly once later",
    "hostile_strings": "Hostile strings (markdown, HTML, bidi, mentions, links) rendered inert",
    "secret_scans": "Outputs scanned for tokens (stdout, stderr, reports, run tags/params, spool files)",
    "data_lost": "Data lost or duplicated (metrics, runs, spooled results)",
}

# One id per pytest process: the first `record` of a new session starts the file afresh.
_SESSION = f"{os.getpid()}-{int(time.time())}"


def figures_path() -> Path:
    return Path(os.environ.get(PATH_ENV) or DEFAULT_PATH)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _load(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def record(source: Any, figure: str, value: int) -> None:
    """Set this test's contribution to `figure`. `source` is pytest's `request` (or a node id string)."""
    if figure not in FIGURES:
        raise ValueError(f"unknown figure {figure!r}; known: {sorted(FIGURES)}")
    node_id = source if isinstance(source, str) else source.node.nodeid
    path = figures_path()
    with _locked(path):
        data = _load(path)
        if data.get("session") != _SESSION:
            data = {"session": _SESSION, "sources": {}}
        data["sources"].setdefault(figure, {})[node_id] = int(value)
        data["figures"] = {name: sum(data["sources"].get(name, {}).values()) for name in FIGURES}
        data["updated"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        os.replace(temporary, path)


def load_figures(path: Path | None = None) -> dict[str, int]:
    data = _load(path or figures_path())
    return {name: int(data.get("figures", {}).get(name, 0)) for name in FIGURES}


def markdown_table(figures: Mapping[str, int]) -> str:
    lines = ["| What the tests did | Figure |", "|---|---:|"]
    for name, label in FIGURES.items():
        lines.append(f"| {label} | {figures.get(name, 0)} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--file", type=Path, default=None, help="figures file (default: build/reliability.json)")
    parser.add_argument("--check", type=Path, metavar="MARKDOWN", help="fail if this file lacks the current table")
    args = parser.parse_args(argv)
    table = markdown_table(load_figures(args.file))
    if args.check:
        if table not in args.check.read_text(encoding="utf-8"):
            print(f"{args.check} does not hold the reliability table the tests produced:\n{table}", file=sys.stderr)
            return 1
        return 0
    sys.stdout.write(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
