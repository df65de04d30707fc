"""Small, failure-proof questions to the local git repository, asked of the `git` executable itself.

Every lookup returns None (or an empty list) when git cannot answer: not a repository, an
empty or shallow clone, a missing ref, git not installed, "dubious ownership" in a container.
Each question is one `git` process (a few milliseconds); nothing is imported for it and nothing
stays open, so a build whose CI names the commit and never opens the repository pays nothing.
The callers turn a missing answer into the project's own errors where it matters (ContextError
in gate/rules.py), so nothing git prints ever reaches the user as a traceback.

`normalize_remote_url` and `repository_slug` are pure string functions shared with the CI
providers that report a clone URL (Jenkins' GIT_URL).
"""

from __future__ import annotations

import dataclasses
import re
import subprocess
from collections.abc import Mapping
from pathlib import Path

from ci_track.secrets import strip_url_credentials

# git@github.com:owner/repo.git (scp-like syntax: no scheme, a colon before the first slash)
_SCP_LIKE = re.compile(r"^(?:[^@/:]+@)?(?P<host>[^/:]+):(?!//)(?P<path>.+)$")
_SCHEME_URL = re.compile(r"^(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*)://(?:[^/@]*@)?(?P<host>[^/:]+)(?::\d+)?(?P<path>/.*)?$")
_HEX_SHA = re.compile(r"^[0-9a-f]{4,64}$")


@dataclasses.dataclass(frozen=True, kw_only=True)
class Repo:
    """A repository git found from a directory: where to ask it, and what `open_repo` learnt on the way."""

    path: Path  # the directory git was asked from (git -C), inside the work tree or the bare repository
    top: Path | None  # the top of the work tree; None for a bare repository
    environ: Mapping[str, str] = dataclasses.field(repr=False)  # the git processes' environment (secrets inside)


def _git(repo: Repo, *args: str, no_lazy_fetch: bool = False) -> bytes | None:
    """git's standard output, or None when git failed, is missing or refused the repository."""
    env = {**repo.environ, **_NO_LAZY_FETCH} if no_lazy_fetch else repo.environ
    try:
        done = subprocess.run(
            ["git", "-C", str(repo.path), *args],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            env=env,
            check=False,
        )
    except (OSError, ValueError):  # no git executable, an unusable directory, a NUL in an argument
        return None
    return done.stdout if done.returncode == 0 else None


def _text(repo: Repo, *args: str) -> str | None:
    """git's answer as one stripped line of text (None on failure)."""
    out = _git(repo, *args)
    return out.decode("utf-8", "surrogateescape").strip() if out is not None else None


def open_repo(path: Path, environ: Mapping[str, str]) -> Repo | None:
    """The repository containing `path` (searching parent directories), or None.

    `environ` is the environment the git processes get (the build's own, from settings.environment()).
    """
    probe = Repo(path=path, top=None, environ=environ)
    # git answers these only for a repository it accepts ("dubious ownership", a broken .git, a garbage
    # HEAD all fail): a repository git refuses reads as none rather than half of one. One process in a
    # work tree; a bare repository (no top level to show) takes a second.
    answer = _text(probe, "rev-parse", "--is-bare-repository", "--show-toplevel")
    lines = answer.splitlines() if answer else []
    if len(lines) == 2 and lines[0] == "false" and lines[1]:
        top = Path(lines[1]).resolve()
        return Repo(path=top, top=top, environ=environ)  # later questions are asked from the top
    return probe if _text(probe, "rev-parse", "--is-bare-repository") == "true" else None


def head_sha(repo: Repo) -> str | None:
    """The full SHA of HEAD; None in an empty repository."""
    return resolve_commit(repo, "HEAD")


def branch(repo: Repo) -> str | None:
    """The checked-out branch name (an unborn branch has one too); None on a detached HEAD."""
    ref = _text(repo, "symbolic-ref", "--quiet", "HEAD")
    prefix = "refs/heads/"
    return ref[len(prefix) :] if ref and ref.startswith(prefix) and len(ref) > len(prefix) else None


def is_dirty(repo: Repo) -> bool | None:
    """Uncommitted changes to tracked files (the index or the work tree against HEAD).

    Untracked files do not count: training writes outputs (metrics files, mlruns/) into the
    work tree, and those should not mark every local run as dirty.
    """
    if repo.top is None:  # a bare repository has no work tree to be dirty
        return None
    out = _git(repo, "--no-optional-locks", "status", "--porcelain=v1", "-z", "--untracked-files=no")
    return bool(out) if out is not None else None


def origin_url(repo: Repo) -> str | None:
    """The `origin` remote as a browsable https URL, credentials stripped."""
    urls = _text(repo, "remote", "get-url", "--all", "origin")  # no origin remote: git exits 2
    first = urls.splitlines()[0].strip() if urls else ""
    return normalize_remote_url(first) if first else None


def default_branch(repo: Repo) -> str | None:
    """origin/HEAD's branch if the clone recorded it, else `main`, else `master`, else None."""
    target = _text(repo, "symbolic-ref", "--quiet", "refs/remotes/origin/HEAD") or ""  # CI clones rarely have it
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
    return _text(repo, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}") or None


def base_ref_commit(repo: Repo, base_branch: str) -> str | None:
    """The tip of `base_branch`: origin/<base> (fresher on CI) or else the local branch."""
    return resolve_commit(repo, f"refs/remotes/origin/{base_branch}") or resolve_commit(
        repo, f"refs/heads/{base_branch}"
    )


def merge_base(repo: Repo, a: str, b: str) -> str | None:
    """The best common ancestor of two commits; None if unrelated or history is too shallow."""
    if a.startswith("-") or b.startswith("-"):
        return None
    output = _text(repo, "merge-base", a, b) or ""  # shallow clones and unknown commits: git fails
    first = output.splitlines()[0] if output else ""
    return first if _HEX_SHA.match(first) else None


def parents(repo: Repo, sha: str) -> list[str]:
    """Parent SHAs of a commit (two for a merge commit); empty when the commit is unknown."""
    if not _HEX_SHA.match(sha.lower()):
        return []
    line = _text(repo, "rev-list", "--parents", "-n", "1", f"{sha}^{{commit}}", "--")
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
    return _git(repo, "cat-file", "-e", f"{sha}^{{commit}}") is not None  # a missing object: git exits 1


def is_shallow(repo: Repo) -> bool:
    """Whether this clone was made (or fetched) with a limited depth."""
    return _text(repo, "rev-parse", "--is-shallow-repository") == "true"


def work_tree(repo: Repo) -> Path | None:
    """The top directory of the working tree; None for a bare repository."""
    return repo.top


def file_at(repo: Repo, sha: str, path: str) -> bytes | None:
    """The content of `path` (relative to the top of the work tree, `/`-separated) in commit `sha`.

    None when the commit has no such file (or it is not a regular file there); the caller checks
    `has_commit` first to tell that apart from a commit the clone lacks.
    """
    if not _HEX_SHA.match(sha.lower()) or not path or path.startswith("/"):
        return None
    spec = f"{sha}:{path}"  # starts with hex digits: never read as an option
    # one process: `cat-file blob` fails for a missing path and for a directory or submodule there
    return _git(repo, "cat-file", "blob", spec)


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
    raw = _git(repo, "ls-tree", "-r", "-z", "--full-tree", f"{commit}^{{tree}}", no_lazy_fetch=True)
    if raw is None:
        return None
    entries = []
    for record in raw.split(b"\0"):
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
    if repo.top is None:
        return None
    raw = _git(
        repo,
        "--no-optional-locks",
        "status",
        "--porcelain=v1",
        "-z",
        "--untracked-files=all",
        "--no-renames",
        no_lazy_fetch=True,
    )
    if raw is None:
        return None
    changed: set[str] = set()
    untracked: set[str] = set()
    for record in raw.split(b"\0"):
        if len(record) < 4:
            continue
        code, path = record[:2], record[3:].decode("utf-8", "surrogateescape")
        (untracked if code == b"??" else changed).add(path)
    return frozenset(changed), frozenset(untracked)


# A clone made with --filter fetches missing objects from its remote on demand: never from here.
_NO_LAZY_FETCH = {"GIT_NO_LAZY_FETCH": "1"}
