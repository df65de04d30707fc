"""A stateful fake of Bitbucket Cloud's API 2.0 on 127.0.0.1, checked against tests/contracts/bitbucket-2.0-subset.json.

It serves the subset's operations (a pull request, its comments with Bitbucket's body pagination,
build statuses) under `/2.0`, keeps state, records every request (never the token) and answers
as Bitbucket does: `values`/`pagelen`/`size`/`page` and a `next` URL on lists (pagelen 10 by
default, 100 at most), deleted comments kept in the list with `deleted: true`, errors as
`{"type": "error", "error": {"message": ...}}`, X-RateLimit-* headers, and a build status that
is unique by its `key` (posting the key again replaces it). Every request and response is
validated against the subset; the test fixtures fail on any violation.

In-process: `with running_fake_bitbucket() as fake: ...`; as a process for end-to-end tests:
`python tests/fakes/fake_bitbucket.py --port 0 --state state.json` prints `{"url": ...}` on one line.
"""

from __future__ import annotations

import datetime as dt
import sys
import urllib.parse
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, ClassVar

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.fakes import rest_fake
from tests.fakes.openapi_contract import OpenApiContract
from tests.fakes.rest_fake import Call, Fault, Reply, RestFake

SPEC = Path(__file__).resolve().parent.parent / "contracts" / "bitbucket-2.0-subset.json"
PREFIX = "/2.0"
DEFAULT_TOKEN = "ATCTT3xFfGN0FakeBitbucketRepositoryAccessToken0123456789"
DEFAULT_PAGELEN = 10
MAX_PAGELEN = 100
BOT = {"type": "user", "uuid": "{b0b0b0b0-0000-4000-8000-000000000001}", "display_name": "ci-track bot"}
HUMAN = {"type": "user", "uuid": "{a11ce000-0000-4000-8000-000000000002}", "display_name": "Alice"}


def _now(age: float = 0.0) -> str:
    return (dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=age)).isoformat()


def _error(status: int, message: str, detail: str | None = None) -> Reply:
    error: dict[str, Any] = {"message": message}
    if detail:
        error["detail"] = detail
    return Reply(status, {"type": "error", "error": error})


class _Prefixed(OpenApiContract):
    """The subset's paths are relative to the API's base path `/2.0`."""

    def match(self, method: str, path: str) -> Any:
        if not path.startswith(PREFIX + "/"):
            return None
        return super().match(method, path[len(PREFIX) :])


class FakeBitbucket(RestFake):
    name = "bitbucket"
    first_ids: ClassVar[Mapping[str, int]] = {"comment": 600000}

    def __init__(self, *, token: str = DEFAULT_TOKEN, **kwargs: Any) -> None:
        self.pulls: dict[tuple[str, int], dict[str, Any]] = {}
        self.comments: dict[int, dict[str, Any]] = {}
        self.statuses: dict[tuple[str, str, str], dict[str, Any]] = {}  # (repo, commit, key) -> status
        kwargs.setdefault("contract", _Prefixed(SPEC))
        super().__init__(token=token, **kwargs)

    def handlers(self) -> dict[str, Callable[[Call], Reply]]:
        return {
            "getPullRequest": self._get_pull,
            "listPullRequestComments": self._list_comments,
            "createPullRequestComment": self._create_comment,
            "updatePullRequestComment": self._update_comment,
            "deletePullRequestComment": self._delete_comment,
            "createCommitBuildStatus": self._create_status,
        }

    # -- seeding ------------------------------------------------------------------------------
    def add_pull(
        self,
        repository: str,
        pr_id: int,
        *,
        sha: str = "c0ffee" + "0" * 34,
        source: str = "feature",
        destination: str = "main",
        comments: int = 0,
    ) -> None:
        with self._lock:
            self.pulls[(repository, pr_id)] = {"sha": sha, "source": source, "destination": destination}
            for number in range(comments):
                comment_id = self.add_comment(repository, pr_id, f"Looks good, remark {number + 1}.")
                if number % 25 == 24:  # a deleted comment stays listed, empty
                    self.comments[comment_id].update(deleted=True, raw="")
            self.changed()

    def add_comment(self, repository: str, pr_id: int, raw: str, *, user: dict[str, Any] = HUMAN) -> int:
        with self._lock:
            comment_id = self.next_id("comment")
            stamp = _now(86400)
            self.comments[comment_id] = {
                "id": comment_id,
                "repo": repository,
                "pr": pr_id,
                "raw": raw,
                "user": user,
                "deleted": False,
                "created_on": stamp,
                "updated_on": stamp,
            }
            return comment_id

    def comments_on(self, repository: str, pr_id: int, *, live: bool = True) -> list[dict[str, Any]]:
        with self._lock:
            found = [
                c
                for c in self.comments.values()
                if c["repo"] == repository and c["pr"] == pr_id and not (live and c["deleted"])
            ]
            return sorted(found, key=lambda c: c["id"])

    def snapshot_state(self) -> dict[str, Any]:
        return {
            "comments": sorted(self.comments.values(), key=lambda c: c["id"]),
            "statuses": list(self.statuses.values()),
        }

    # -- Bitbucket's manners ------------------------------------------------------------------
    def authenticate(self, headers: Mapping[str, str]) -> Reply | None:
        scheme, _, credential = headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and credential.strip() == self.token:
            return None
        return _error(401, "Unauthorized", "Access token expired, revoked or invalid.")

    def common_headers(self, reply: Reply) -> dict[str, str]:
        return {"x-ratelimit-limit": "1000", "x-ratelimit-resource": "api", "x-ratelimit-nearlimit": "false"}

    def fault_reply(self, fault: Fault) -> Reply:
        if fault.kind == "unauthorized":
            return _error(401, "Unauthorized")
        if fault.kind == "forbidden":
            return _error(403, "Your credentials lack one or more required privilege scopes.")
        if fault.kind == "not-found":
            return _error(404, "Resource not found")
        if fault.kind in ("bad-request", "unprocessable"):
            return _error(400, "Bad request", "the request body is not valid")
        if fault.kind == "rate-limit":
            reply = _error(429, "Rate limit for this resource has been exceeded")
            reply.headers["x-ratelimit-nearlimit"] = "true"
            return reply
        return _error(500, "Something went wrong")

    def _repo(self, call: Call) -> str:
        return f"{call.params['workspace']}/{call.params['repo_slug']}"

    def _base(self) -> str:
        return f"{self.url}{PREFIX}"

    def _pull(self, call: Call) -> tuple[str, int, dict[str, Any]] | Reply:
        repository, pr_id = self._repo(call), int(call.params["pull_request_id"])
        pull = self.pulls.get((repository, pr_id))
        return (repository, pr_id, pull) if pull else _error(404, "Resource not found")

    def _comment_object(self, comment: dict[str, Any]) -> dict[str, Any]:
        base = f"{self._base()}/repositories/{comment['repo']}/pullrequests/{comment['pr']}"
        raw = "" if comment["deleted"] else comment["raw"]
        return {
            "type": "pullrequest_comment",
            "id": comment["id"],
            "created_on": comment["created_on"],
            "updated_on": comment["updated_on"],
            "content": {"type": "rendered", "raw": raw, "markup": "markdown", "html": f"<p>{len(raw)} chars</p>"},
            "user": comment["user"],
            "deleted": comment["deleted"],
            "pending": False,
            "links": {
                "self": {"href": f"{base}/comments/{comment['id']}"},
                "html": {"href": f"{self.url}/{comment['repo']}/pull-requests/{comment['pr']}#comment-{comment['id']}"},
            },
            "pullrequest": {"type": "pullrequest", "id": comment["pr"]},
        }

    # -- operations ---------------------------------------------------------------------------
    def _get_pull(self, call: Call) -> Reply:
        found = self._pull(call)
        if isinstance(found, Reply):
            return found
        repository, pr_id, pull = found
        endpoint = {"repository": {"type": "repository", "full_name": repository}}
        return Reply(
            200,
            {
                "type": "pullrequest",
                "id": pr_id,
                "title": "A change",
                "state": "OPEN",
                "source": {**endpoint, "branch": {"name": pull["source"]}, "commit": {"hash": pull["sha"][:12]}},
                "destination": {**endpoint, "branch": {"name": pull["destination"]}, "commit": {"hash": "b" * 12}},
                "links": {"html": {"href": f"{self.url}/{repository}/pull-requests/{pr_id}"}},
            },
        )

    def _list_comments(self, call: Call) -> Reply:
        found = self._pull(call)
        if isinstance(found, Reply):
            return found
        repository, pr_id, _ = found
        pagelen = min(MAX_PAGELEN, max(1, call.int_value("pagelen", DEFAULT_PAGELEN)))
        page = max(1, call.int_value("page", 1))
        everything = self.comments_on(repository, pr_id, live=False)
        chunk, _ = rest_fake.page_of(everything, page, pagelen)
        body: dict[str, Any] = {
            "pagelen": pagelen,
            "size": len(everything),
            "page": page,
            "values": [self._comment_object(c) for c in chunk],
        }
        here = f"{self.url}{call.path}"
        if page * pagelen < len(everything):
            body["next"] = f"{here}?{urllib.parse.urlencode({'pagelen': pagelen, 'page': page + 1})}"
        if page > 1:
            body["previous"] = f"{here}?{urllib.parse.urlencode({'pagelen': pagelen, 'page': page - 1})}"
        return Reply(200, body)

    def _create_comment(self, call: Call) -> Reply:
        found = self._pull(call)
        if isinstance(found, Reply):
            return found
        repository, pr_id, _ = found
        raw = call.body["content"]["raw"]
        if not raw.strip():
            return _error(400, "Bad request", "content.raw: This field is required.")
        comment_id = self.add_comment(repository, pr_id, raw, user=BOT)
        stamp = _now()
        self.comments[comment_id].update(created_on=stamp, updated_on=stamp)
        return Reply(201, self._comment_object(self.comments[comment_id]))

    def _comment(self, call: Call) -> dict[str, Any] | Reply:
        found = self._pull(call)
        if isinstance(found, Reply):
            return found
        repository, pr_id, _ = found
        comment = self.comments.get(int(call.params["comment_id"]))
        if comment is None or comment["repo"] != repository or comment["pr"] != pr_id or comment["deleted"]:
            return _error(404, "Resource not found")
        return comment

    def _update_comment(self, call: Call) -> Reply:
        comment = self._comment(call)
        if isinstance(comment, Reply):
            return comment
        raw = ((call.body or {}).get("content") or {}).get("raw")
        if raw is not None:
            comment.update(raw=raw, updated_on=_now())
        return Reply(200, self._comment_object(comment))

    def _delete_comment(self, call: Call) -> Reply:
        comment = self._comment(call)
        if isinstance(comment, Reply):
            return comment
        comment.update(deleted=True, updated_on=_now())  # Bitbucket keeps it, marked deleted
        return Reply(204)

    def _create_status(self, call: Call) -> Reply:
        repository, commit = self._repo(call), call.params["commit"]
        fields = call.body
        key = (repository, commit, fields["key"])
        stamp = _now()
        status = {
            "type": "build",
            "uuid": self.statuses.get(key, {}).get("uuid") or f"{{5e5e5e5e-0000-4000-8000-{len(self.statuses):012d}}}",
            "key": fields["key"],
            "state": fields["state"],
            "name": fields.get("name") or fields["key"],
            "url": fields["url"],
            "description": fields.get("description", ""),
            "created_on": self.statuses.get(key, {}).get("created_on") or stamp,
            "updated_on": stamp,
            "commit": commit,
            "repository": repository,
        }
        self.statuses[key] = status
        return Reply(201, {k: v for k, v in status.items() if k not in ("commit", "repository")})


def running_fake_bitbucket(
    *, repository: str = "acme/ml-repo", pr_id: int | None = 7, comments: int = 0, **kwargs: Any
) -> AbstractContextManager[FakeBitbucket]:
    fake = FakeBitbucket(**kwargs)
    if pr_id is not None:
        fake.add_pull(repository, pr_id, comments=comments)
    return rest_fake.serving(fake)


def main(argv: list[str] | None = None) -> int:
    parser = rest_fake.command_line("A fake Bitbucket Cloud API 2.0", DEFAULT_TOKEN)
    parser.add_argument("--repo", default="acme/ml-repo")
    parser.add_argument("--pr", type=int, default=7)
    parser.add_argument("--sha", default="c0ffee" + "0" * 34)
    parser.add_argument("--comments", type=int, default=0)
    args = parser.parse_args(argv)
    fake = FakeBitbucket(token=args.token, state_file=args.state.resolve())
    fake.add_pull(args.repo, args.pr, sha=args.sha, comments=args.comments)
    return rest_fake.serve_until_signalled(fake, args.port, dict)


if __name__ == "__main__":
    sys.exit(main())
