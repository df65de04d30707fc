"""Run with a venv's own python: sizes of its installed distributions and what each top-level requirement alone brings.

Prints JSON `{"sizes": {dist: bytes}, "exclusive": {requirement: [bytes, [dists]]}}` where a
requirement's exclusive set is its dependency closure minus the closure of every other requirement
of `sys.argv[1]` (a distribution name): the part of the install that dropping it would save.
Distributions named after it (those of the empty venv: pip, setuptools) count as already there.
Uses pip's vendored `packaging`, which every venv has. Standard library only otherwise.
"""

from __future__ import annotations

import contextlib
import csv
import importlib.metadata as metadata
import json
import os
import sys
from pathlib import Path

from pip._vendor.packaging.requirements import Requirement
from pip._vendor.packaging.utils import canonicalize_name


def dist_size(dist: metadata.Distribution) -> int:
    """Bytes on disk of the files the distribution's RECORD lists (byte-compiled files included)."""
    record = dist.read_text("RECORD") or ""
    base = Path(str(dist.locate_file("")))
    total = 0
    for row in csv.reader(record.splitlines()):
        if not row:
            continue
        with contextlib.suppress(OSError):  # a RECORD may list a file that was never written
            total += os.lstat(base / row[0]).st_blocks * 512
    return total


def requirements_of(name: str, extras: set[str]) -> list[tuple[str, set[str]]]:
    found = []
    for text in metadata.requires(name) or []:
        requirement = Requirement(text)
        if requirement.marker is not None:
            environments = [{"extra": extra} for extra in extras] or [{"extra": ""}]
            if not any(requirement.marker.evaluate(env) for env in environments):
                continue
        found.append((str(canonicalize_name(requirement.name)), set(requirement.extras)))
    return found


def closure(name: str, extras: set[str]) -> set[str]:
    seen: set[str] = set()
    todo = [(str(canonicalize_name(name)), extras)]
    while todo:
        current, current_extras = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        try:
            todo.extend(requirements_of(current, current_extras))
        except metadata.PackageNotFoundError:
            continue
    return seen


def main() -> None:
    already_there = {str(canonicalize_name(name)) for name in sys.argv[2:]}
    sizes = {str(canonicalize_name(d.metadata["Name"])): dist_size(d) for d in metadata.distributions()}
    sizes = {name: size for name, size in sizes.items() if name not in already_there}
    top = str(canonicalize_name(sys.argv[1]))
    direct = requirements_of(top, set())
    closures = {name: closure(name, extras) for name, extras in direct}
    exclusive = {}
    for name, members in closures.items():
        others = set().union(*(c for n, c in closures.items() if n != name))
        alone = sorted(members - others - already_there, key=lambda d: -sizes.get(d, 0))
        exclusive[name] = [sum(sizes.get(d, 0) for d in alone), alone]
    print(json.dumps({"sizes": sizes, "exclusive": exclusive}))


if __name__ == "__main__":
    main()
