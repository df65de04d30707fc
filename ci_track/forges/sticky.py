"""The sticky comment's rules, for every forge (GitHub over PyGithub, GitLab and Bitbucket over REST).

One comment per key (the experiment), found by its hidden marker (report.text.comment_marker) on
every page of the thread, updated in place; `new` replaces it, `delete-on-pass` removes it when the
gate passed, `off` does nothing. Concurrent posters converge on one comment: after creating, each
re-lists and keeps the lowest id (with the newest body), deleting the others, so whatever the timing
the thread ends with exactly one. Comments that are not ours (no marker) are never touched, except
that the reports of other keys that describe an older head are marked outdated. A thread is any
object with the four operations of `Thread`; a refusal of the token (errors.ForgeForbidden) becomes
the `forbidden` outcome. From the report's hidden metadata (report/metadata.py): a comment of the
same key for a different candidate run of the same build and commit is another job's
(SharedKeyError, nothing overwritten).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Iterable
from typing import Protocol

from ci_track.errors import ForgeForbidden, SharedKeyError, UsageError
from ci_track.forges.interface import CommentOutcome
from ci_track.report.metadata import conflict_message, read_meta, shared_key_conflict, stale_body
from ci_track.report.text import fit_to_limit
from ci_track.vocabulary import COMMENT_MODES

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Comment:
    id: int
    body: str
    url: str | None = None


class Thread(Protocol):
    """The comments of one pull/merge request, as the sticky comment needs them."""

    def list(self) -> list[Comment]:
        """Every comment a person or a tool wrote (not the forge's own system notes), from every page.

        Right after `create`, a thread may leave out the comments older than its previous listing
        (GitHub asks for those since then: one page): a rival poster's comment is never older.
        """
        ...

    def create(self, body: str) -> Comment: ...

    def update(self, comment_id: int, body: str) -> Comment: ...

    def delete(self, comment_id: int) -> None:
        """Delete; a comment already gone (a concurrent poster deleted it) is not an error."""
        ...


def ours(comments: Iterable[Comment], marker: str) -> list[Comment]:
    """The comments carrying `marker`, lowest id first."""
    return sorted((c for c in comments if marker in c.body), key=lambda c: c.id)


def post_sticky(
    thread: Thread,
    body: str,
    *,
    marker: str,
    mode: str,
    passed: bool,
    limit: int,
    edit_known: Callable[[str], Comment | None] | None = None,
) -> CommentOutcome:
    """Create, update or delete the one comment carrying `marker` (see the module docstring).

    `edit_known(body)` updates our comment without listing the thread (GitHub: one PATCH of an id
    returned before) and is None when that comment is gone; the thread is then listed as usual.
    It is not used by `new`, nor by `delete-on-pass` when the gate passed.
    """
    if mode not in COMMENT_MODES:
        raise UsageError(f"comment mode must be one of {', '.join(COMMENT_MODES)}, got {mode!r}")
    if mode == "off":
        return CommentOutcome("skipped")
    if not marker.strip():
        raise UsageError("the comment marker must not be empty")
    body, truncated = fit_to_limit(body, marker, limit)
    try:
        if edit_known is not None and mode != "new" and not (mode == "delete-on-pass" and passed):
            edited = edit_known(body)
            if edited is not None:
                return CommentOutcome("updated", edited.id, edited.url, truncated=truncated)
        return _post(thread, body, marker=marker, mode=mode, passed=passed, truncated=truncated)
    except ForgeForbidden as exc:
        log.warning("%s", exc)
        return CommentOutcome("forbidden", warning=str(exc), truncated=truncated)


def refuse_shared_key(comments: list[Comment], body: str, marker: str) -> None:
    """SharedKeyError when one of `comments` (ours, by marker) is another job's report under the same key."""
    for comment in comments:
        if shared_key_conflict(comment.body, body):
            meta = read_meta(body)
            raise SharedKeyError(conflict_message(meta.key if meta else marker, comment.body))


def mark_others_stale(thread: Thread, listed: list[Comment], marker: str, body: str) -> None:
    """Mark the reports of other keys that describe an older head as outdated (edited, never deleted)."""
    meta = read_meta(body)
    if meta is None or not meta.head_sha:
        return
    for comment in listed:
        other = read_meta(comment.body)
        if other is None or marker in comment.body or other.key == meta.key:
            continue
        marked = stale_body(comment.body, meta.head_sha)
        if marked is not None:
            thread.update(comment.id, marked)


def _post(thread: Thread, body: str, *, marker: str, mode: str, passed: bool, truncated: bool) -> CommentOutcome:
    listed = thread.list()
    found = ours(listed, marker)
    if mode == "delete-on-pass" and passed:
        for comment in found:
            thread.delete(comment.id)
        log.info("deleted %d ci-track comment(s): the gate passed", len(found))
        return CommentOutcome("deleted" if found else "absent", deleted=len(found))
    refuse_shared_key(found, body, marker)
    mark_others_stale(thread, listed, marker, body)
    replaced = 0
    if mode == "new":
        for comment in found:
            thread.delete(comment.id)
        replaced, found = len(found), []
    if found:
        keep, *duplicates = found
        changed = keep.body != body
        if changed:
            keep = thread.update(keep.id, body)
        for comment in duplicates:
            thread.delete(comment.id)
        return CommentOutcome(
            "updated" if changed else "unchanged",
            keep.id,
            keep.url,
            deleted=len(duplicates),
            truncated=truncated,
        )
    created = thread.create(body)
    kept, removed = settle_race(thread, marker, created, body)
    return CommentOutcome(
        "created" if kept.id == created.id else "updated",
        kept.id,
        kept.url,
        deleted=replaced + removed,
        truncated=truncated,
    )


def settle_race(thread: Thread, marker: str, created: Comment, body: str) -> tuple[Comment, int]:
    """After creating: keep the lowest-id comment of ours (given the newest body), delete the others."""
    found = ours(thread.list(), marker) or [created]
    rivals = [c for c in found if c.id != created.id]
    if any(shared_key_conflict(c.body, body) for c in rivals):  # another job of this build, same key
        thread.delete(created.id)
        refuse_shared_key(rivals, body, marker)
    keep, *others = found
    if keep.id != created.id and keep.body != body:
        keep = thread.update(keep.id, body)
    for comment in others:
        thread.delete(comment.id)
    if others:
        log.info("removed %d duplicate ci-track comment(s), kept %s", len(others), keep.id)
    return keep, len(others)
