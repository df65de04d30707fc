"""Small, failure-proof questions to the local git repository (the `git` command, run directly).

Every lookup returns None (or an empty list) when git cannot answer: not a repository, an
empty or shallow clone, a missing ref, git not installed, "dubious ownership" in a container.
Callers treat a missing answer as "unknown", never as an error, so nothing here raises.
Each question is one `git` process (a few milliseconds); no git library is imported, so a build
whose CI names the commit pays nothing for git at all.

`normalize_remote_url` and `repository_slug` are pure string functions shared with the CI
providers that report a clone URL (Jenkins' GIT_URL).
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from ci_track.secrets import strip_url_credentials

# git@github.com:owner/repo.git (scp-like syntax: no scheme, a colon before the first slash)
_SCP_LIKE = re.compile(r"^(?:[^@/:]+@)?(?P<host>[^/:]+):(?!//)(?P<path>.+)$")
_SCHEME_URL = re.compile(r"^(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*)://(?:[^/@]*@)?(?P<host>[^/:]+)(?::\d+)?(?P<path>/.*)?$")
_HEX_SHA = re.compile(r"^[0-9a-f]{4,64}$")
_TIMEOUT = 60.0  # seconds for one git command (a cat-file or merge-base on a large history)


class Repo:
    """A repository found on disk: where it is, and a way to ask it one question."""

    def __init__(self, path: Path, work_tree: Path | None) -> None:
        self.path = path  # where git is run (the top of the work tree, or the bare repository)
        self.work_tree = work_tree

    def git(self, *args: str) -> bytes | None:
        """git's stdout, or None when git fails (or is missing)."""
        return _run(self.path, *args)

    def text(self, *args: str) -> str | None:
        out = self.git(*args)
        return None if out is None else out.decode("utf-8", "replace").strip()

    def close(self) -> None:
        """Nothing stays open between questions (kept so callers need not know)."""


def _run(cwd: Path, *args: str) -> bytes | None:
    try:
        done = subprocess.run(
            ["git", *args], cwd=cwd, capture_output=True, timeout=_TIMEOUT, check=False, stdin=subprocess.DEVNULL
        )
    except (OSError, subprocess.SubprocessError):  # git not installed, cwd gone, a hung command
        return None
    return done.stdout if done.returncode == 0 else None


def open_repo(path: Path) -> Repo | None:
    """The repository containing `path` (searching parent directories), or None."""
    top = _run(path, "rev-parse", "--show-toplevel")
    if top is not None and top.strip():
        return Repo(Path(top.decode("utf-8", "replace").strip()), Path(top.decode("utf-8", "replace").strip()))
    bare = _run(path, "rev-parse", "--is-bare-repository")
    if bare is not None and bare.strip() == b"true":
        return Repo(path, None)
    return None


def head_sha(repo: Repo) -> str | None:
    """The full SHA of HEAD; None in an empty repository."""
    return resolve_commit(repo, "HEAD")


def branch(repo: Repo) -> str | None:
    """The checked-out branch name; None on a detached HEAD."""
    return repo.text("symbolic-ref", "--quiet", "--short", "HEAD") or None


def is_dirty(repo: Repo) -> bool | None:
    """Uncommitted changes to tracked files.

    Untracked files do not count: training writes outputs (metrics files, mlruns/) into the
    work tree, and those should not mark every local run as dirty.
    """
    if repo.work_tree is None:
        return None
    status = repo.git("status", "--porcelain", "--untracked-files=no")
    return None if status is None else bool(status.strip())


def origin_url(repo: Repo) -> str | None:
    """The `origin` remote as a browsable https URL, credentials stripped."""
    urls = repo.text("remote", "get-url", "--all", "origin")
    first = urls.splitlines()[0] if urls else ""
    return normalize_remote_url(first) if first else None


def default_branch(repo: Repo) -> str | None:
    """origin/HEAD's branch if the clone recorded it, else `main`, else `master`, else None."""
    target = repo.text("symbolic-ref", "--quiet", "refs/remotes/origin/HEAD") or ""  # CI clones rarely have it
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
    return repo.text("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}") or None


def base_ref_commit(repo: Repo, base_branch: str) -> str | None:
    """The tip of `base_branch`: origin/<base> (fresher on CI) or else the local branch."""
    return resolve_commit(repo, f"refs/remotes/origin/{base_branch}") or resolve_commit(
        repo, f"refs/heads/{base_branch}"
    )


def merge_base(repo: Repo, a: str, b: str) -> str | None:
    """The best common ancestor of two commits; None if unrelated or history is too shallow."""
    if a.startswith("-") or b.startswith("-"):
        return None
    output = repo.text("merge-base", a, b)  # shallow clones and unknown commits: None
    first = output.splitlines()[0] if output else ""
    return first if _HEX_SHA.match(first) else None


def parents(repo: Repo, sha: str) -> list[str]:
    """Parent SHAs of a commit (two for a merge commit); empty when the commit is unknown."""
    if not _HEX_SHA.match(sha.lower()):
        return []
    line = repo.text("rev-list", "--parents", "-n", "1", f"{sha}^{{commit}}", "--")
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
    return repo.git("cat-file", "-e", f"{sha}^{{commit}}") is not None  # a missing object: git exits 1


def is_shallow(repo: Repo) -> bool:
    return repo.text("rev-parse", "--is-shallow-repository") == "true"


def work_tree(repo: Repo) -> Path | None:
    """The top directory of the working tree; None for a bare repository."""
    return repo.work_tree.resolve() if repo.work_tree else None


def file_at(repo: Repo, sha: str, path: str) -> bytes | None:
    """The content of `path` (relative to the top of the work tree, `/`-separated) in commit `sha`.

    None when the commit has no such file (or it is not a regular file there); the caller checks
    `has_commit` first to tell that apart from a commit the clone lacks.
    """
    if not _HEX_SHA.match(sha.lower()) or not path or path.startswith("/"):
        return None
    spec = f"{sha}:{path}"  # starts with hex digits: never read as an option
    if repo.text("cat-file", "-t", spec) != "blob":
        return None
    return repo.git("cat-file", "blob", spec)
