"""The fingerprint of a training: what `run.inputs` declares, as git stores it at the commit (pure).

A training whose fingerprint equals a finished run's would produce that run's numbers again, so
`ci-track run --reuse` can skip it (ci_track/tracking/reuse.py). The fingerprint is the SHA-256 of:

- every file the declared patterns match in the commit's tree, by path, mode and git's own
  object id (`git ls-tree -r`: no file is read, git already hashed each one), and the patterns
  themselves, so declaring fewer inputs never matches a run that declared more;
- the declared environment variables by name, each value hashed (a missing variable differs from
  an empty one); the values are never stored, in the tag or anywhere else;
- what runs: the command's argv (or the MLproject entry point's built command and its
  parameters), the directory it runs in, the repeat setting and the metrics files it writes.

Patterns are relative to the directory `ci-track run` runs in (where `.ci-track.yml` is) and
must stay inside the repository; `*` and `?` do not cross `/`, `**` spans directories, and a
pattern naming a directory takes every file under it. A pattern that matches no tracked file is
a usage error (exit 2) unless the work tree holds it untracked; an untracked or uncommitted
(dirty) input means the numbers would come from something git does not have, so reuse is off
for that run, with a one-line notice. `resolve_inputs` decides all of that from plain data;
`commands/run.py` asks git (ci_track/ci/git.py) for the tree and the status.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import posixpath
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

from ci_track.errors import UsageError

if TYPE_CHECKING:
    from ci_track.ci.git import TreeEntry

FINGERPRINT_VERSION = "ci-track-fingerprint/1"  # bump when what goes in changes: old runs then never match
_GLOB_CHARS = re.compile(r"[*?\[]")


@dataclasses.dataclass(frozen=True, kw_only=True)
class TrainingIdentity:
    """What runs, besides the input files: the parts of the fingerprint that are not in git."""

    command: tuple[str, ...]  # the argv (an entry point: the built shell command)
    entry_point: str | None = None
    params: Mapping[str, str] = dataclasses.field(default_factory=dict)
    workdir: str = "."  # relative to the top of the work tree
    repeat: str = "1"  # RepeatPolicy in words: "1", "3", "auto, at most 4"
    metrics_files: tuple[str, ...] = ()
    key: str | None = None  # the report key (a matrix job's model): two models never share a training


@dataclasses.dataclass(frozen=True, kw_only=True)
class ResolvedInputs:
    """The declared inputs at the commit: the files they matched, or why reuse is off for this run."""

    patterns: tuple[str, ...]  # as given, rooted at the top of the work tree
    files: tuple[TreeEntry, ...]
    unusable: str | None = None  # an untracked or dirty input, in words (reuse off, training runs)


def repo_pattern(pattern: str, prefix: str) -> str:
    """`pattern` (relative to the run's directory, `prefix` from the top of the work tree) from the top.

    A pattern that is absolute or climbs out of the repository is a usage error.
    """
    text = pattern.strip().replace("\\", "/")
    if not text:
        raise UsageError("run.inputs: an empty pattern")
    if text.startswith("/") or re.match(r"^[A-Za-z]:/", text):
        raise UsageError(f"run.inputs: {pattern!r} is an absolute path: give it relative to the repository")
    joined = posixpath.normpath(posixpath.join(prefix, text)) if prefix not in ("", ".") else posixpath.normpath(text)
    if joined == ".." or joined.startswith("../"):
        raise UsageError(f"run.inputs: {pattern!r} is outside the repository")
    return "" if joined == "." else joined


def pattern_regex(pattern: str) -> re.Pattern[str]:
    """A repository-relative glob as a regex over `/`-separated paths (a directory takes what is under it)."""
    out = []
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
            continue
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "[":
            end = pattern.find("]", i + 2)
            if end == -1:
                out.append(re.escape(char))
            else:
                body = pattern[i + 1 : end]
                negate = body.startswith("!")
                body = body[1:] if negate else body
                out.append(("[^/" if negate else "[") + body.replace("\\", "\\\\") + "]")
                i = end
        else:
            out.append(re.escape(char))
        i += 1
    prefix = "".join(out)
    if not pattern:
        return re.compile(r".+")  # the whole repository
    return re.compile(f"(?:{prefix})(?:/.*)?")


def resolve_inputs(
    patterns: Sequence[str],
    *,
    prefix: str,
    tree: Sequence[TreeEntry],
    changed: Iterable[str],
    untracked: Iterable[str],
    exists: Mapping[str, bool] | None = None,
) -> ResolvedInputs:
    """The files `patterns` match in `tree`; `changed`/`untracked` from `git status` (paths from the top).

    `exists` says, for a literal pattern that matches no tracked file, whether it is on disk
    (an ignored file): then reuse is off rather than an error. Raises UsageError for a pattern
    outside the repository or one that matches nothing at all.
    """
    rooted = [(pattern, repo_pattern(pattern, prefix)) for pattern in patterns]
    regexes = [(pattern, path, pattern_regex(path)) for pattern, path in rooted]
    matched: dict[str, TreeEntry] = {}
    unusable: str | None = None
    untracked_paths = sorted(untracked)
    changed_paths = sorted(changed)
    for pattern, path, regex in regexes:
        hits = [entry for entry in tree if regex.fullmatch(entry.path)]
        for entry in hits:
            matched[entry.path] = entry
        if hits:
            continue
        loose = [p for p in untracked_paths if regex.fullmatch(p)]
        if loose:
            unusable = unusable or f"input {loose[0]!r} (run.inputs {pattern!r}) is not tracked by git"
        elif not _GLOB_CHARS.search(path) and (exists or {}).get(pattern):
            unusable = unusable or f"input {pattern!r} is not tracked by git (ignored?)"
        else:
            raise UsageError(f"run.inputs: {pattern!r} matches no file tracked by git at this commit")
    if unusable is None:
        regex_list = [regex for _, _, regex in regexes]
        for path in (*changed_paths, *untracked_paths):
            if any(regex.fullmatch(path) for regex in regex_list):
                state = "untracked" if path in set(untracked_paths) else "changed since the commit (dirty)"
                unusable = f"input {path!r} is {state}"
                break
    return ResolvedInputs(
        patterns=tuple(path for _, path in rooted),
        files=tuple(matched[p] for p in sorted(matched)),
        unusable=unusable,
    )


def fingerprint(
    *,
    patterns: Sequence[str],
    files: Sequence[TreeEntry],
    env_names: Sequence[str],
    environ: Mapping[str, str],
    identity: TrainingIdentity,
) -> str:
    """The SHA-256 (hex) of everything a training depends on, as declared (see the module docstring)."""
    env = {}
    for name in sorted(set(env_names)):
        value = environ.get(name)
        # Hashed on its own first: the clear value is never part of anything stored or printed.
        env[name] = None if value is None else hashlib.sha256(value.encode("utf-8", "surrogateescape")).hexdigest()
    document = {
        "version": FINGERPRINT_VERSION,
        "patterns": sorted(set(patterns)),
        "files": [[entry.path, entry.mode, entry.object_id] for entry in sorted(files, key=lambda e: e.path)],
        "env": env,
        "command": list(identity.command),
        "entry_point": identity.entry_point,
        "params": dict(sorted(identity.params.items())),
        "workdir": identity.workdir,
        "repeat": identity.repeat,
        "metrics_files": list(identity.metrics_files),
        "key": identity.key,
    }
    text = json.dumps(document, sort_keys=True, ensure_ascii=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("ascii")).hexdigest()
