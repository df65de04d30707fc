"""Small, failure-proof questions to the local git repository (GitPython, imported lazily).

Every lookup returns None (or an empty list) when git cannot answer: not a repository, an
empty or shallow clone, a missing ref, git not installed, "dubious ownership" in a container.
GitPython's exceptions stop here, translated into that "unknown" answer; the callers turn a
missing answer into the project's own errors where it matters (ContextError in gate/rules.py),
so nothing GitPython raises ever reaches the user as a traceback.

Only `open_repo` imports GitPython (0.1-0.2 s): a build whose CI names the commit and never
opens the repository pays nothing for it. Every other lookup takes the repository it returned.

`normalize_remote_url` and `repository_slug` are pure string functions shared with the CI
providers that report a clone URL (Jenkins' GIT_URL).
"""

from __future__ import annotations

import configparser
import dataclasses
import re
from pathlib import Path
from typing import TYPE_CHECKING

from ci_track.secrets import strip_url_credentials

if TYPE_CHECKING:
    from git import Repo

# git@github.com:owner/repo.git (scp-like syntax: no scheme, a colon before the first slash)
_SCP_LIKE = re.compile(r"^(?:[^@/:]+@)?(?P<host>[^/:]+):(?!//)(?P<path>.+)$")
_SCHEME_URL = re.compile(r"^(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*)://(?:[^/@]*@)?(?P<host>[^/:]+)(?::\d+)?(?P<path>/.*)?$")
_HEX_SHA = re.compile(r"^[0-9a-f]{4,64}$")


def _failures() -> tuple[type[Exception], ...]:
    """What GitPython raises when git cannot answer.

    Evaluated only when an exception is raised, and only on a Repo that `open_repo` returned,
    so GitPython is already imported: this never imports it for a build that does not use git.
    """
    from git.exc import GitError, ODBError  # GitCommandError, InvalidGitRepositoryError, BadName, ...

    # ValueError: an unborn HEAD, a missing remote, undecodable output; TypeError: a detached HEAD's
    # active_branch; OSError: a vanished work tree or git binary; configparser.Error: a broken .git/config.
    return (GitError, ODBError, ValueError, TypeError, KeyError, OSError, configparser.Error)


def open_repo(path: Path) -> Repo | None:
    """The repository containing `path` (searching parent directories), or None."""
    try:
        import git
    except ImportError:  # GitPython refuses to import when no git executable is found
        return None
    try:
        repo = git.Repo(path, search_parent_directories=True)
    except _failures():  # not a repository (or unreadable): the caller works without git
        return None
    try:
        # GitPython reads refs from files itself; ask git once, so a repository git refuses
        # ("dubious ownership", a broken .git) reads as no repository rather than half of one.
        repo.git.rev_parse("--git-dir")
    except _failures():
        repo.close()
        return None
    return repo


def head_sha(repo: Repo) -> str | None:
    """The full SHA of HEAD; None in an empty repository."""
    return resolve_commit(repo, "HEAD")


def branch(repo: Repo) -> str | None:
    """The checked-out branch name; None on a detached HEAD."""
    try:
        return repo.active_branch.name or None  # an unborn branch has a name too
    except _failures():  # detached HEAD: TypeError
        return None


def is_dirty(repo: Repo) -> bool | None:
    """Uncommitted changes to tracked files.

    Untracked files do not count: training writes outputs (metrics files, mlruns/) into the
    work tree, and those should not mark every local run as dirty.
    """
    if repo.bare:  # GitPython calls a bare repository clean; it has no work tree to be dirty
        return None
    try:
        return bool(repo.is_dirty(untracked_files=False))
    except _failures():
        return None


def origin_url(repo: Repo) -> str | None:
    """The `origin` remote as a browsable https URL, credentials stripped."""
    try:
        urls = list(repo.remote("origin").urls)
    except _failures():  # no origin remote: ValueError
        return None
    first = urls[0].strip() if urls else ""
    return normalize_remote_url(first) if first else None


def default_branch(repo: Repo) -> str | None:
    """origin/HEAD's branch if the clone recorded it, else `main`, else `master`, else None."""
    try:
        target = repo.git.symbolic_ref("--quiet", "refs/remotes/origin/HEAD").strip()
    except _failures():  # clones made by CI checkouts rarely have origin/HEAD
        target = ""
    prefix = "refs/remotes/origin/"
    if target.startswith(prefix) and len(target) > len(prefix):
        return target[len(prefix) :]
    for name in ("main", "master"):
        if resolve_commit(repo, f"refs/remotes/origin/{name}") or resolve_commit(repo, f"refs/heads/{name}"):
            return name
    return None


def resolve_commit(repo: Repo, ref: str) -> str | None:
    """The commit SHA `ref` points to, or None when it does not exist here."""
    if not ref or ref.startswith("-"):  # never let a ref be read as an option
        return None
    try:
        return repo.git.rev_parse("--verify", "--quiet", f"{ref}^{{commit}}").strip() or None
    except _failures():
        return None


def base_ref_commit(repo: Repo, base_branch: str) -> str | None:
    """The tip of `base_branch`: origin/<base> (fresher on CI) or else the local branch."""
    return resolve_commit(repo, f"refs/remotes/origin/{base_branch}") or resolve_commit(
        repo, f"refs/heads/{base_branch}"
    )


def merge_base(repo: Repo, a: str, b: str) -> str | None:
    """The best common ancestor of two commits; None if unrelated or history is too shallow."""
    if a.startswith("-") or b.startswith("-"):
        return None
    try:
        output = repo.git.merge_base(a, b).strip()
    except _failures():  # shallow clones and unknown commits end up here
        return None
    first = output.splitlines()[0] if output else ""
    return first if _HEX_SHA.match(first) else None


def parents(repo: Repo, sha: str) -> list[str]:
    """Parent SHAs of a commit (two for a merge commit); empty when the commit is unknown."""
    if not _HEX_SHA.match(sha.lower()):
        return []
    try:
        # One rev-list, not repo.commit(sha).parents: that starts GitPython's two cat-file --batch processes.
        line = repo.git.rev_list("--parents", "-n", "1", f"{sha}^{{commit}}", "--").strip()
    except _failures():
        return []
    return line.split()[1:] if line else []


def normalize_remote_url(url: str) -> str:
    """A clone URL as a browsable https URL, credentials stripped.

    `git@host:owner/repo.git` and `ssh://git@host:22/owner/repo.git` become
    `https://host/owner/repo`; local paths and file:// URLs are kept as they are.
    """
    url = strip_url_credentials(url.strip())
    if "://" not in url:
        scp = _SCP_LIKE.match(url)
        if scp and not url.startswith(("/", ".")):
            url = f"https://{scp.group('host')}/{scp.group('path').lstrip('/')}"
        else:
            return url
    match = _SCHEME_URL.match(url)
    if not match or match.group("scheme").lower() == "file":
        return url
    scheme = match.group("scheme").lower()
    if scheme in ("http", "https"):
        prefix = url[: match.start("path")] if match.group("path") else url
    else:  # ssh://, git://, git+ssh://: the web UI is on https at the same host, default port
        prefix = f"https://{match.group('host')}"
    path = (match.group("path") or "").rstrip("/")
    path = path.removesuffix(".git")
    return f"{prefix}{path}"


def repository_slug(url: str | None) -> str | None:
    """`owner/name` when `url` looks like a GitHub repository URL (exactly two path segments)."""
    if not url:
        return None
    match = _SCHEME_URL.match(normalize_remote_url(url))
    if not match or match.group("scheme").lower() not in ("http", "https"):
        return None
    segments = [s for s in (match.group("path") or "").split("/") if s]
    if len(segments) != 2:
        return None
    return "/".join(segments)


def server_of(url: str | None) -> str | None:
    """`https://host[:port]` of an http(s) URL."""
    if not url:
        return None
    match = _SCHEME_URL.match(url)
    if not match or match.group("scheme").lower() not in ("http", "https"):
        return None
    return url[: match.start("path")] if match.group("path") else url.rstrip("/")


def has_commit(repo: Repo, sha: str) -> bool:
    """Whether the commit `sha` is in this clone (a shallow clone often lacks the PR's base)."""
    if not _HEX_SHA.match(sha.lower()):
        return False
    try:
        repo.git.cat_file("-e", f"{sha}^{{commit}}")
    except _failures():  # a missing object: git exits 1
        return False
    return True


def is_shallow(repo: Repo) -> bool:
    try:
        return bool(repo.git.rev_parse("--is-shallow-repository").strip() == "true")
    except _failures():
        return False


def work_tree(repo: Repo) -> Path | None:
    """The top directory of the working tree; None for a bare repository."""
    try:
        top = repo.working_tree_dir
    except _failures():
        return None
    return Path(top).resolve() if top else None


def file_at(repo: Repo, sha: str, path: str) -> bytes | None:
    """The content of `path` (relative to the top of the work tree, `/`-separated) in commit `sha`.

    None when the commit has no such file (or it is not a regular file there); the caller checks
    `has_commit` first to tell that apart from a commit the clone lacks.
    """
    if not _HEX_SHA.match(sha.lower()) or not path or path.startswith("/"):
        return None
    spec = f"{sha}:{path}"  # starts with hex digits: never read as an option
    try:
        if repo.git.cat_file("-t", spec).strip() != "blob":
            return None
        data = repo.git.cat_file("blob", spec, stdout_as_string=False, strip_newline_in_stdout=False)
    except _failures():  # no such path in that commit
        return None
    return bytes(data)


@dataclasses.dataclass(frozen=True, kw_only=True)
class TreeEntry:
    """One file of a commit's tree, as `git ls-tree -r` lists it: git's own object id, never the content."""

    path: str  # relative to the top of the work tree, `/`-separated
    mode: str  # 100644, 100755, 120000 (symlink), 160000 (submodule)
    object_id: str


def tree_entries(repo: Repo, commit: str) -> list[TreeEntry] | None:
    """Every file of `commit`'s tree with its object id (one `git ls-tree -r`), or None when git cannot list it.

    None covers a commit the clone lacks and a tree whose objects are missing (a broken or
    partial clone): the caller falls back to not knowing. Lazy fetching from a promisor remote is
    switched off (GIT_NO_LAZY_FETCH, honoured by git 2.44+); a checkout holds the trees of the
    commit it checked out in any case, so listing HEAD never needs one.
    """
    if not _HEX_SHA.match(commit.lower()):
        return None
    try:
        raw = repo.git.execute(
            ["git", "ls-tree", "-r", "-z", "--full-tree", f"{commit}^{{tree}}"],
            env={**_NO_LAZY_FETCH},
            stdout_as_string=False,
            strip_newline_in_stdout=False,
        )
    except _failures():
        return None
    entries = []
    for record in bytes(raw).split(b"\0"):
        if not record:
            continue
        meta, _, path = record.partition(b"\t")
        fields = meta.split()
        if len(fields) != 3 or not path:
            return None
        entries.append(
            TreeEntry(
                path=path.decode("utf-8", "surrogateescape"),
                mode=fields[0].decode("ascii", "replace"),
                object_id=fields[2].decode("ascii", "replace"),
            )
        )
    return entries


def changed_paths(repo: Repo) -> tuple[frozenset[str], frozenset[str]] | None:
    """(paths that differ from HEAD in the index or the work tree, untracked paths), one `git status`; None if unknown.

    Paths are relative to the top of the work tree. Ignored files are not listed.
    """
    if repo.bare:
        return None
    try:
        raw = repo.git.execute(
            ["git", "status", "--porcelain=v1", "-z", "--untracked-files=all", "--no-renames"],
            env={**_NO_LAZY_FETCH},
            stdout_as_string=False,
            strip_newline_in_stdout=False,
        )
    except _failures():
        return None
    changed: set[str] = set()
    untracked: set[str] = set()
    for record in bytes(raw).split(b"\0"):
        if len(record) < 4:
            continue
        code, path = record[:2], record[3:].decode("utf-8", "surrogateescape")
        (untracked if code == b"??" else changed).add(path)
    return frozenset(changed), frozenset(untracked)


# A clone made with --filter fetches missing objects from its remote on demand: never from here.
_NO_LAZY_FETCH = {"GIT_NO_LAZY_FETCH": "1"}
