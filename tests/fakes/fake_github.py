"""A stateful fake of GitHub's REST API on 127.0.0.1, checked against GitHub's own OpenAPI description.

It serves exactly the operations of `tests/contracts/github-rest-subset.json`, which are the ones
ci-track calls (pulls/get, the issue-comment CRUD with real pagination, creating a commit status and
a check run), under both `/...` and the GitHub Enterprise `/api/v3/...` prefix. It keeps state
(repositories, pull requests, comments, statuses, check runs), records every request, puts the
`x-ratelimit-*` headers on every response, and can be told to fail the next N requests of one
operation (or of all) the way GitHub fails: a fork PR's read-only token, 404, 422, 429 and 403
rate limits with `retry-after`, 5xx.

Every request it receives and every response it sends is validated with `jsonschema` against the
operation's request body, parameters and per-status response schema (`OpenApiContract`), so the
fake cannot drift from the real API; violations are recorded and the test fixtures fail on any.
Only the faults of GitHub's own description listed in its README are tolerated (`KNOWN_SPEC_FAULTS`).

Use it in-process (`with running_fake_github() as fake: ...`) or as a process for end-to-end tests:
`python tests/fakes/fake_github.py --port 0 --state state.json` prints `{"url": ...}` on one line and
rewrites state.json (comments, statuses, check runs, requests, violations) after every request.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import os
import sys
import time
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, ClassVar

if __package__ in (None, ""):  # run as a script (`python tests/fakes/fake_github.py`): `tests` as a package
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.fakes import rest_fake
from tests.fakes.openapi_contract import ENTERPRISE_PREFIX, OpenApiContract
from tests.fakes.rest_fake import Call, Fault, Reply, RestFake

MAX_COMMENT_LENGTH = 65536  # GitHub: "body is too long (maximum is 65536 characters)"
MAX_STATUS_DESCRIPTION = 140
MAX_CHECK_OUTPUT = 65535
DEFAULT_PER_PAGE = 30
MAX_PER_PAGE = 100
DEFAULT_TOKEN = "ghs_FakeGitHubTokenForCiTrackTests0123456789abcdef"
BOT_LOGIN = "github-actions[bot]"
BOT_ID = 41898282
HUMAN_LOGIN = "octocat"
_DOCS = "https://docs.github.com/rest"


FAULT_KINDS = (
    "forbidden",  # 403 Resource not accessible by integration (a fork PR's read-only GITHUB_TOKEN)
    "not-found",  # 404
    "unprocessable",  # 422 Validation Failed
    "rate-limit",  # 429 with retry-after
    "secondary-rate-limit",  # 403 "You have exceeded a secondary rate limit" (retry-after optional)
    "primary-rate-limit",  # 403 "API rate limit exceeded", x-ratelimit-remaining: 0, reset in retry_after s
    "server-error",  # 500 (or `status`: 502, 503...)
)
_SECONDARY_MESSAGE = (
    "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. "
    "If you reach out to GitHub Support for help, please include the request ID 0000:FAKE."
)
_PRIMARY_MESSAGE = (
    "API rate limit exceeded for installation ID 1. If you reach out to GitHub Support for help, "
    "please include the request ID 0000:FAKE and timestamp 2026-01-01 00:00:00 UTC."
)


def _now(age: float = 0.0) -> str:
    """GitHub's timestamp format, `age` seconds ago."""
    moment = dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=age)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _error(status: int, message: str, doc: str = _DOCS, **extra: Any) -> Reply:
    return Reply(status, {"message": message, "documentation_url": doc, "status": str(status), **extra})


def _validation_failed(resource: str, field: str, message: str, doc: str) -> Reply:
    return _error(
        422,
        "Validation Failed",
        doc,
        errors=[{"resource": resource, "code": "custom", "field": field, "message": message}],
    )


def _comment_too_long(body: str, anchor: str) -> Reply | None:
    """GitHub's 422 for a comment body over its limit (`anchor`: the operation's section of the docs)."""
    if len(body) <= MAX_COMMENT_LENGTH:
        return None
    message = f"body is too long (maximum is {MAX_COMMENT_LENGTH} characters)"
    return _validation_failed("IssueComment", "body", message, f"{_DOCS}/issues/comments#{anchor}")


class FakeGitHub(RestFake):
    """The state and behaviour of the fake; `serve()` puts it on a loopback port (rest_fake.RestFake)."""

    name = "github"
    fault_kinds = FAULT_KINDS
    prefix = ENTERPRISE_PREFIX
    json_type = "application/json; charset=utf-8"
    first_ids: ClassVar[Mapping[str, int]] = {
        "comment": 1000,
        "status": 5000,
        "check_run": 9000,
        "pull": 70000,
        "repo": 100,
    }

    def __init__(
        self,
        *,
        token: str = DEFAULT_TOKEN,
        login: str = BOT_LOGIN,
        state_file: Path | None = None,
        contract: OpenApiContract | None = None,
        rate_limit: int = 5000,
    ) -> None:
        self.login = login
        self.rate_limit = rate_limit
        self.rate_used = 0
        self.rate_reset = int(time.time()) + 3600
        self.repos: dict[str, dict[str, Any]] = {}
        self.pulls: dict[tuple[str, int], dict[str, Any]] = {}
        self.comments: dict[int, dict[str, Any]] = {}  # id -> {repo, issue, body, user, created_at, ...}
        self.statuses: list[dict[str, Any]] = []
        self.check_runs: dict[int, dict[str, Any]] = {}
        super().__init__(token=token, contract=contract or OpenApiContract(), state_file=state_file)

    def handlers(self) -> dict[str, Callable[[Call], Reply]]:
        return {
            "pulls/get": self._pulls_get,
            "issues/list-comments": self._list_comments,
            "issues/create-comment": self._create_comment,
            "issues/update-comment": self._update_comment,
            "issues/delete-comment": self._delete_comment,
            "repos/create-commit-status": self._create_status,
            "checks/create": self._create_check_run,
        }

    # -- seeding ----------------------------------------------------------------------------
    def add_repo(self, full_name: str, *, default_branch: str = "main", private: bool = False) -> None:
        with self._lock:
            if full_name not in self.repos:
                self.repos[full_name] = {
                    "id": self.next_id("repo"),
                    "full_name": full_name,
                    "default_branch": default_branch,
                    "private": private,
                }
            self.changed()

    def add_pull(
        self,
        repository: str,
        number: int,
        *,
        head_sha: str = "a" * 40,
        base_sha: str = "b" * 40,
        head_ref: str = "feature",
        base_ref: str = "main",
        title: str = "A change",
        head_repository: str | None = None,
        comments: int = 0,
    ) -> None:
        """A pull request; `head_repository` other than `repository` makes it a fork PR."""
        with self._lock:
            self.add_repo(repository)
            self.pulls[(repository, number)] = {
                "id": self.next_id("pull"),
                "repo": repository,
                "number": number,
                "head_sha": head_sha,
                "base_sha": base_sha,
                "head_ref": head_ref,
                "base_ref": base_ref,
                "title": title,
                "head_repo": head_repository or repository,
            }
            for i in range(comments):
                self.add_comment(repository, number, f"A human comment number {i + 1}.", user=HUMAN_LOGIN, dump=False)
            self.changed()

    def add_comment(
        self,
        repository: str,
        number: int,
        body: str,
        *,
        user: str | None = None,
        age: float = 86400.0,
        dump: bool = True,
    ) -> int:
        """A comment `age` seconds old (seeded history is a day old; the API stamps its own now)."""
        with self._lock:
            comment_id = self.next_id("comment")
            stamp = _now(age)
            self.comments[comment_id] = {
                "id": comment_id,
                "repo": repository,
                "issue": number,
                "body": body,
                "user": user or self.login,
                "created_at": stamp,
                "updated_at": stamp,
            }
            if dump:
                self.changed()
            return comment_id

    # -- queries for tests ------------------------------------------------------------------
    def comments_on(self, repository: str, number: int) -> list[dict[str, Any]]:
        with self._lock:
            found = [c for c in self.comments.values() if c["repo"] == repository and c["issue"] == number]
            return sorted(found, key=lambda c: c["id"])

    def snapshot_state(self) -> dict[str, Any]:
        return {
            "repos": list(self.repos.values()),
            "pulls": list(self.pulls.values()),
            "comments": sorted(self.comments.values(), key=lambda c: c["id"]),
            "statuses": list(self.statuses),
            "check_runs": list(self.check_runs.values()),
        }

    # -- GitHub's manners -------------------------------------------------------------------
    def authenticate(self, headers: Mapping[str, str]) -> Reply | None:
        self.rate_used += 1
        auth = headers.get("authorization", "")
        scheme, _, credential = auth.partition(" ")
        if not auth:
            return _error(401, "Requires authentication")
        if scheme.lower() not in ("token", "bearer") or credential.strip() != self.token:
            return _error(401, "Bad credentials")
        return None

    def invalid_reply(self, problems: list[str]) -> Reply:
        return _error(422, "Invalid request.\n\n" + problems[0], _DOCS)

    def fault_reply(self, fault: Fault) -> Reply:
        extra: dict[str, str] = {}
        if fault.retry_after is not None and fault.kind != "primary-rate-limit":
            extra["retry-after"] = str(fault.retry_after)
        if fault.kind == "forbidden":
            reply = _error(fault.status or 403, "Resource not accessible by integration")
        elif fault.kind == "not-found":
            reply = _error(fault.status or 404, "Not Found")
        elif fault.kind == "unprocessable":
            reply = _validation_failed("Issue", "body", "rejected by the fake", _DOCS)
        elif fault.kind == "rate-limit":
            extra.setdefault("retry-after", "1")
            reply = _error(fault.status or 429, _SECONDARY_MESSAGE)
        elif fault.kind == "secondary-rate-limit":
            reply = _error(fault.status or 403, _SECONDARY_MESSAGE)
        elif fault.kind == "primary-rate-limit":
            reset = int(time.time()) + (fault.retry_after if fault.retry_after is not None else 60)
            extra.update({"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(reset)})
            reply = _error(fault.status or 403, _PRIMARY_MESSAGE)
        else:
            reply = _error(fault.status or 500, "Server Error")
        reply.headers.update(extra)
        return reply

    def common_headers(self, reply: Reply) -> dict[str, str]:
        remaining = max(0, self.rate_limit - self.rate_used)
        headers = {
            "x-ratelimit-limit": str(self.rate_limit),
            "x-ratelimit-remaining": str(remaining),
            "x-ratelimit-used": str(self.rate_used),
            "x-ratelimit-reset": str(self.rate_reset),
            "x-ratelimit-resource": "core",
            "x-github-request-id": f"FAKE:{len(self.requests) + 1:06d}",
        }
        # a fault may have set its own (primary rate limit: remaining 0, reset soon)
        return {k: reply.headers.get(k, v) for k, v in headers.items()}

    # -- resources --------------------------------------------------------------------------
    def _example(self, name: str) -> Any:
        return copy.deepcopy(self.contract.spec["components"]["examples"][name]["value"])

    def _rebase(self, value: Any, base_url: str, repository: str | None) -> Any:
        """Point the example's URLs at this fake (and its repository at ours)."""
        if isinstance(value, str):
            value = value.replace("https://api.github.com", base_url)
            if repository:
                for placeholder in ("octocat/Hello-World", "github/hello-world"):
                    value = value.replace(placeholder, repository)
            return value
        if isinstance(value, list):
            return [self._rebase(v, base_url, repository) for v in value]
        if isinstance(value, dict):
            return {k: self._rebase(v, base_url, repository) for k, v in value.items()}
        return value

    def _user(self, login: str, base_url: str) -> dict[str, Any]:
        user = self._example("issue-comment")["user"]
        user = self._rebase(user, base_url, None)
        user = json.loads(json.dumps(user).replace("octocat", login))
        is_bot = login.endswith("[bot]")
        user.update({"login": login, "id": BOT_ID if is_bot else 1, "type": "Bot" if is_bot else "User"})
        return user

    def _repo_or_404(self, call: Call) -> tuple[str, dict[str, Any]] | Reply:
        full_name = f"{call.params['owner']}/{call.params['repo']}"
        repo = self.repos.get(full_name)
        if repo is None:
            return _error(404, "Not Found", f"{_DOCS}/repos/repos#get-a-repository")
        return full_name, repo

    def _repository_object(self, full_name: str, base_url: str) -> dict[str, Any]:
        repo = self.repos.get(full_name) or {"id": 1, "default_branch": "main", "private": False}
        owner, name = full_name.split("/", 1)
        # the repository inside the pull-request example: pulls/get is the only operation that returns one
        data = self._rebase(self._example("pull-request")["head"]["repo"], base_url, full_name)
        for optional in ("parent", "source", "template_repository", "organization"):
            data.pop(optional, None)  # fork/template details the fake does not model
        data.update(
            {
                "id": repo["id"],
                "name": name,
                "full_name": full_name,
                "private": repo["private"],
                "default_branch": repo["default_branch"],
                "language": "Python",
                "owner": self._user(owner, base_url),
            }
        )
        return data

    def _pulls_get(self, call: Call) -> Reply:
        full_name = f"{call.params['owner']}/{call.params['repo']}"
        pull = self.pulls.get((full_name, int(call.params["pull_number"])))
        if pull is None:
            return _error(404, "Not Found", f"{_DOCS}/pulls/pulls#get-a-pull-request")
        data = self._rebase(self._example("pull-request"), call.base_url, full_name)
        data = json.loads(json.dumps(data).replace("/1347", f"/{pull['number']}"))
        data.update(
            {
                "id": pull["id"],
                "number": pull["number"],
                "title": pull["title"],
                "state": "open",
                "requested_teams": [],  # the example's team lacks the required `type` (KNOWN_SPEC_FAULTS)
                "comments": len(self.comments_on(full_name, pull["number"])),
                "merged": False,
            }
        )
        head_repo = self._repository_object(pull["head_repo"], call.base_url)
        head_repo["fork"] = pull["head_repo"] != full_name
        data["head"].update(
            {
                "ref": pull["head_ref"],
                "sha": pull["head_sha"],
                "label": f"{pull['head_repo'].split('/')[0]}:{pull['head_ref']}",
                "repo": head_repo,
            }
        )
        data["base"].update(
            {
                "ref": pull["base_ref"],
                "sha": pull["base_sha"],
                "label": f"{full_name.split('/')[0]}:{pull['base_ref']}",
                "repo": self._repository_object(full_name, call.base_url),
            }
        )
        return Reply(200, data)

    def _comment_object(self, comment: dict[str, Any], base_url: str) -> dict[str, Any]:
        data = self._rebase(self._example("issue-comment"), base_url, comment["repo"])
        data.update(
            {
                "id": comment["id"],
                "node_id": f"IC_fake{comment['id']}",
                "url": f"{base_url}/repos/{comment['repo']}/issues/comments/{comment['id']}",
                "html_url": f"https://github.com/{comment['repo']}/pull/{comment['issue']}"
                f"#issuecomment-{comment['id']}",
                "issue_url": f"{base_url}/repos/{comment['repo']}/issues/{comment['issue']}",
                "body": comment["body"],
                "user": self._user(comment["user"], base_url),
                "created_at": comment["created_at"],
                "updated_at": comment["updated_at"],
                "author_association": "NONE" if comment["user"].endswith("[bot]") else "COLLABORATOR",
            }
        )
        return data

    def _issue_or_404(self, call: Call) -> tuple[str, int] | Reply:
        full_name = f"{call.params['owner']}/{call.params['repo']}"
        number = int(call.params["issue_number"])
        if (full_name, number) not in self.pulls:
            return _error(404, "Not Found", f"{_DOCS}/issues/comments#list-issue-comments")
        return full_name, number

    def _list_comments(self, call: Call) -> Reply:
        found = self._issue_or_404(call)
        if isinstance(found, Reply):
            return found
        comments = self.comments_on(*found)
        since = call.query_value("since")
        if since:
            comments = [c for c in comments if c["updated_at"] >= since]
        per_page = call.int_value("per_page", DEFAULT_PER_PAGE)
        per_page = DEFAULT_PER_PAGE if per_page < 1 else min(per_page, MAX_PER_PAGE)
        page = max(1, call.int_value("page", 1))
        items, last = rest_fake.page_of(comments, page, per_page)
        reply = Reply(200, [self._comment_object(c, call.base_url) for c in items])
        here, query = f"{call.base_url}{call.path}", {k: v for k, v in call.last_values().items() if k != "page"}

        def to(target: int, rel: str) -> str:  # GitHub puts `page` last
            return rest_fake.link(here, {**query, "page": str(target)}, rel)

        links = []
        if page > 1:
            links.append(to(min(page - 1, last), "prev"))
        if page < last:
            links += [to(page + 1, "next"), to(last, "last")]
        if page > 1:
            links.append(to(1, "first"))
        if links:
            reply.headers["link"] = ", ".join(links)
        return reply

    def _create_comment(self, call: Call) -> Reply:
        found = self._issue_or_404(call)
        if isinstance(found, Reply):
            return found
        body = call.body["body"]
        too_long = _comment_too_long(body, "create-an-issue-comment")
        if too_long:
            return too_long
        comment_id = self.add_comment(found[0], found[1], body, age=0, dump=False)
        data = self._comment_object(self.comments[comment_id], call.base_url)
        return Reply(201, data, {"location": data["url"]})

    def _comment_or_404(self, call: Call) -> dict[str, Any] | Reply:
        full_name = f"{call.params['owner']}/{call.params['repo']}"
        comment = self.comments.get(int(call.params["comment_id"]))
        if comment is None or comment["repo"] != full_name:
            return _error(404, "Not Found", f"{_DOCS}/issues/comments#update-an-issue-comment")
        return comment

    def _update_comment(self, call: Call) -> Reply:
        comment = self._comment_or_404(call)
        if isinstance(comment, Reply):
            return comment
        body = call.body["body"]
        too_long = _comment_too_long(body, "update-an-issue-comment")
        if too_long:
            return too_long
        comment.update({"body": body, "updated_at": _now()})
        return Reply(200, self._comment_object(comment, call.base_url))

    def _delete_comment(self, call: Call) -> Reply:
        comment = self._comment_or_404(call)
        if isinstance(comment, Reply):
            return comment
        del self.comments[comment["id"]]
        return Reply(204)

    def _status_object(self, status: dict[str, Any], base_url: str) -> dict[str, Any]:
        data = self._rebase(self._example("status"), base_url, status["repo"])
        data.update(
            {
                "id": status["id"],
                "node_id": f"SC_fake{status['id']}",
                "url": f"{base_url}/repos/{status['repo']}/statuses/{status['sha']}",
                "state": status["state"],
                "description": status["description"],
                "target_url": status["target_url"],
                "context": status["context"],
                "created_at": status["created_at"],
                "updated_at": status["created_at"],
                "creator": self._user(self.login, base_url),
            }
        )
        return data

    def _create_status(self, call: Call) -> Reply:
        found = self._repo_or_404(call)
        if isinstance(found, Reply):
            return found
        description = call.body.get("description")
        if description is not None and len(description) > MAX_STATUS_DESCRIPTION:
            return _validation_failed(
                "Status",
                "description",
                f"description is too long (maximum is {MAX_STATUS_DESCRIPTION} characters)",
                f"{_DOCS}/commits/statuses#create-a-commit-status",
            )
        status = {
            "id": self.next_id("status"),
            "repo": found[0],
            "sha": call.params["sha"],
            "state": call.body["state"],
            "description": description,
            "target_url": call.body.get("target_url"),
            "context": call.body.get("context") or "default",
            "created_at": _now(),
        }
        self.statuses.append(status)
        return Reply(201, self._status_object(status, call.base_url))

    def _check_run_object(self, run: dict[str, Any], base_url: str) -> dict[str, Any]:
        data = self._rebase(self._example("check-run"), base_url, run["repo"])
        output = run.get("output") or {}
        data.update(
            {
                "id": run["id"],
                "node_id": f"CR_fake{run['id']}",
                "head_sha": run["head_sha"],
                "name": run["name"],
                "external_id": run.get("external_id") or "",
                "url": f"{base_url}/repos/{run['repo']}/check-runs/{run['id']}",
                "html_url": f"https://github.com/{run['repo']}/runs/{run['id']}",
                "details_url": run.get("details_url"),
                "status": run["status"],
                "conclusion": run.get("conclusion"),
                "started_at": run["started_at"],
                "completed_at": run.get("completed_at"),
                "output": {
                    "title": output.get("title"),
                    "summary": output.get("summary"),
                    "text": output.get("text"),
                    "annotations_count": 0,
                    "annotations_url": f"{base_url}/repos/{run['repo']}/check-runs/{run['id']}/annotations",
                },
                "pull_requests": [],
            }
        )
        return data

    def _apply_check_run_fields(self, run: dict[str, Any], fields: Mapping[str, Any]) -> Reply | None:
        output = fields.get("output") or {}
        for key in ("summary", "text"):
            if len(output.get(key) or "") > MAX_CHECK_OUTPUT:
                return _validation_failed(
                    "CheckRun", f"output.{key}", f"is too long (maximum is {MAX_CHECK_OUTPUT} characters)", _DOCS
                )
        for key in ("name", "head_sha", "details_url", "external_id", "status", "conclusion", "completed_at"):
            if key in fields:
                run[key] = fields[key]
        if output:
            run["output"] = {**(run.get("output") or {}), **output}
        if "conclusion" in fields:
            run["status"] = "completed"  # GitHub: providing a conclusion completes the run
            run["completed_at"] = run.get("completed_at") or _now()
        return None

    def _create_check_run(self, call: Call) -> Reply:
        found = self._repo_or_404(call)
        if isinstance(found, Reply):
            return found
        run: dict[str, Any] = {
            "id": self.next_id("check_run"),
            "repo": found[0],
            "status": "queued",
            "started_at": call.body.get("started_at") or _now(),
        }
        problem = self._apply_check_run_fields(run, call.body)
        if problem is not None:
            return problem
        self.check_runs[run["id"]] = run
        return Reply(201, self._check_run_object(run, call.base_url))


def running_fake_github(
    *,
    repository: str = "octo-org/ml-repo",
    pr_number: int | None = 7,
    head_sha: str = "c0ffee" + "0" * 34,
    comments: int = 0,
    contract: OpenApiContract | None = None,
    **kwargs: Any,
) -> AbstractContextManager[FakeGitHub]:
    """A serving fake with one repository and (unless pr_number is None) one open PR; stopped on exit."""
    fake = FakeGitHub(contract=contract, **kwargs)
    fake.add_repo(repository)
    if pr_number is not None:
        fake.add_pull(repository, pr_number, head_sha=head_sha, comments=comments)
    return rest_fake.serving(fake)


def _parse_fault(text: str) -> Fault:
    """`[OPERATION=]KIND[*TIMES][@RETRY_AFTER]`, e.g. `issues/create-comment=forbidden*3`."""
    operation, _, rest = text.rpartition("=")
    rest, _, retry_after = rest.partition("@")
    kind, _, times = rest.partition("*")
    return Fault(
        kind,
        int(times or 1),
        operation or None,
        int(retry_after) if retry_after else None,
    )


def main(argv: list[str] | None = None) -> int:
    parser = rest_fake.command_line("A fake GitHub REST API", os.environ.get("FAKE_GITHUB_TOKEN", DEFAULT_TOKEN))
    parser.add_argument("--repo", default="octo-org/ml-repo")
    parser.add_argument("--pr", type=int, default=7)
    parser.add_argument("--head-sha", default="c0ffee" + "0" * 34)
    parser.add_argument("--base-ref", default="main")
    parser.add_argument("--head-ref", default="feature")
    parser.add_argument("--fork", default=None, help="owner/name of the PR's head repository (a fork PR)")
    parser.add_argument("--comments", type=int, default=0, help="existing human comments on the PR")
    parser.add_argument("--fault", action="append", default=[], help="[OPERATION=]KIND[*TIMES][@RETRY_AFTER]")
    args = parser.parse_args(argv)

    fake = FakeGitHub(token=args.token, state_file=args.state.resolve())
    fake.add_repo(args.repo)
    fake.add_pull(
        args.repo,
        args.pr,
        head_sha=args.head_sha,
        head_ref=args.head_ref,
        base_ref=args.base_ref,
        head_repository=args.fork,
        comments=args.comments,
    )
    for text in args.fault:
        fault = _parse_fault(text)
        fake.fail(fault.kind, times=fault.times, operation=fault.operation, retry_after=fault.retry_after)
    return rest_fake.serve_until_signalled(fake, args.port, lambda: {"state": str(args.state)})


if __name__ == "__main__":
    sys.exit(main())
