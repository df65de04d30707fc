"""The hidden metadata of a report body, and the decisions every forge adapter makes from it (pure).

A report posted as a PR comment carries, right after its marker `<!-- ci-track:KEY -->`, one more
HTML comment: `<!-- ci-track-meta:BASE64URL -->` holding JSON `{key, run, sha, build, attempt}` (the report's
key, the candidate run id, the head SHA, and the CI build and attempt that made it; on GitLab also
the job's name, `job`). Base64 keeps
any key or id from ending the comment early. From it:

- `shared_key_conflict(existing, new)`: an existing comment for the same key, on the same head SHA,
  made by the same attempt of the same build (GitHub Actions: run id and attempt), describes a
  DIFFERENT candidate run: two jobs publish under one key (a matrix of models on one experiment).
  Overwriting would hide one job's report and let its commit status be replaced (`failure` then
  `success`), so the adapter refuses (fails closed) with `conflict_message`, which says to set
  `key`. A re-run of the job (a later attempt, another workflow run) or a new push (another head
  SHA) is not a conflict. GitLab names no attempt, but each job of a pipeline has its own name (a
  `parallel: matrix` job's carries its values, "train: [ridge]"), and a retry keeps it: there two
  names in one pipeline are the conflict. On Bitbucket, Jenkins and local builds a retry and a sibling
  job look alike: the key is the only protection.
- `stale_body(body, newer_sha)`: the reports of OTHER keys on the PR that describe an older head
  are marked outdated, not deleted (a model the PR no longer produces keeps its last report, but it
  no longer reads as current): a visible note after the marker line, added once.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
import re

META_PREFIX = "<!-- ci-track-meta:"
_META = re.compile(r"<!-- ci-track-meta:([A-Za-z0-9_=-]{1,2000}) -->")
STALE_PREFIX = "> [!NOTE]\n> ⏳ Outdated:"
_SHA = re.compile(r"^[0-9a-fA-F]{7,64}$")


@dataclasses.dataclass(frozen=True, kw_only=True)
class ReportMeta:
    key: str
    run_id: str | None
    head_sha: str | None
    build: str | None = None  # the CI build that made the report (e.g. GitHub's run id), None when unknown
    attempt: str | None = None  # its attempt (a re-run has a later one)
    job: str | None = None  # the job's name within the build, where the CI names it and a retry keeps it (GitLab)

    def comment(self) -> str:
        data = {"key": self.key, "run": self.run_id, "sha": self.head_sha, "build": self.build, "attempt": self.attempt}
        if self.job is not None:
            data["job"] = self.job
        raw = json.dumps(data, separators=(",", ":"), sort_keys=True)
        return f"{META_PREFIX}{base64.urlsafe_b64encode(raw.encode('utf-8')).decode('ascii')} -->"


def read_meta(body: str | None) -> ReportMeta | None:
    """The metadata of a report body, or None (an older ci-track's comment, or someone's text)."""
    match = _META.search(body or "")
    if match is None:
        return None
    try:
        data = json.loads(base64.urlsafe_b64decode(match.group(1).encode("ascii")).decode("utf-8"))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("key"), str):
        return None

    def text(name: str) -> str | None:
        value = data.get(name)
        return value if isinstance(value, str) and value else None

    return ReportMeta(
        key=data["key"],
        run_id=text("run"),
        head_sha=text("sha"),
        build=text("build"),
        attempt=text("attempt"),
        job=text("job"),
    )


def shared_key_conflict(existing: str | None, new: str) -> bool:
    """Whether posting `new` over the comment `existing` would overwrite another job's report (module docstring)."""
    old, fresh = read_meta(existing), read_meta(new)
    if old is None or fresh is None or old.key != fresh.key:
        return False
    if not (old.head_sha and fresh.head_sha) or old.head_sha.lower() != fresh.head_sha.lower():
        return False  # a new push: the newer report replaces the older one
    if not (old.run_id and fresh.run_id) or old.run_id == fresh.run_id:
        return False  # the same report again (a re-run of compare alone)
    # Only the same attempt of the same build is two jobs at once: GitHub Actions names both (run id and
    # attempt), so a re-run (a later attempt) or another workflow run replaces the report. Where the CI names
    # no attempt (GitLab's pipeline id survives a job's retry; Jenkins, Bitbucket, local) a retry cannot be
    # told from a sibling job: the newer report replaces the older one there, as before.
    known = old.build and fresh.build and old.attempt and fresh.attempt
    if known:
        return (old.build, old.attempt) == (fresh.build, fresh.attempt)
    # GitLab: one pipeline, two job names = two jobs at once; the same name again = that job's retry.
    named = old.build and fresh.build and old.job and fresh.job
    return bool(named and old.build == fresh.build and old.job != fresh.job)


def conflict_message(key: str, existing: str | None) -> str:
    """The refusal, saying what to set."""
    old = read_meta(existing)
    other = f" (run {old.run_id})" if old and old.run_id else ""
    return (
        f"another job of this build already reported a different run{other} as {key!r} on this commit: two jobs "
        f"share the report key {key!r}, and one would hide the other's report and commit status. Give each job "
        "its own key: the action's `key` input, `--key`, CI_TRACK_KEY or `report.key` (e.g. key: ${{ matrix.model }})"
    )


def stale_body(body: str, newer_sha: str) -> str | None:
    """`body` marked as outdated by a report on `newer_sha`, or None when it needs no mark (see the module
    docstring): it has no metadata, describes `newer_sha` already, or is marked already."""
    meta = read_meta(body)
    if meta is None or not meta.head_sha or meta.head_sha.lower() == newer_sha.lower() or STALE_PREFIX in body:
        return None
    old = meta.head_sha[:7] if _SHA.match(meta.head_sha) else "?"
    new = newer_sha[:7] if _SHA.match(newer_sha) else "?"
    note = (
        f"{STALE_PREFIX} this report is for `{old}`; ci-track has since reported on `{new}`, and this "
        "model's job did not report again (the pull request may no longer produce it)."
    )
    end = body.find("\n", body.find(META_PREFIX))
    if end < 0:
        return body + "\n" + note + "\n"
    return body[: end + 1] + note + "\n\n" + body[end + 1 :]
