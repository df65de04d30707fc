"""A build on a developer's machine (or an unknown CI): the local git repository says what it can."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from ci_track.ci.context import CIContext

if TYPE_CHECKING:
    from ci_track.ci.git import Repo


def local_context(repo: Repo | None) -> CIContext:
    """A developer's machine: everything comes from the repository containing the work dir."""
    if repo is None:
        return CIContext(provider="local", event="manual", head_sha=None)
    from ci_track.ci import git as git_repo

    origin = git_repo.origin_url(repo)
    default_branch = git_repo.default_branch(repo)
    repository = git_repo.repository_slug(origin)
    return CIContext(
        provider="local",
        event="manual",
        head_sha=git_repo.head_sha(repo),
        branch=git_repo.branch(repo),
        base_branch=default_branch,
        repository=repository,
        repo_url=origin,
        default_branch=default_branch,
        dirty=git_repo.is_dirty(repo),
    )


class LazyRepo:
    """Opens the local repository only when a question needs it (most CI runs never do)."""

    def __init__(self, cwd: Path, environ: Mapping[str, str]) -> None:
        self._cwd = cwd
        self._environ = environ
        self._opened = False
        self._repo: Repo | None = None

    def get(self) -> Repo | None:
        if not self._opened:
            from ci_track.ci.git import open_repo

            self._repo = open_repo(self._cwd, self._environ)
            self._opened = True
        return self._repo

    def parents(self, sha: str) -> list[str]:
        from ci_track.ci.git import parents

        repo = self.get()
        return parents(repo, sha) if repo else []

    def merge_base_with(self, head_sha: str, base_branch: str) -> str | None:
        from ci_track.ci import git as git_repo

        repo = self.get()
        if repo is None:
            return None
        base_tip = git_repo.base_ref_commit(repo, base_branch)
        return git_repo.merge_base(repo, head_sha, base_tip) if base_tip else None
