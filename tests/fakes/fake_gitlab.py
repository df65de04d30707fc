"""A stateful fake of GitLab's REST API v4 on 127.0.0.1, checked against tests/contracts/gitlab-v4-subset.json.

It serves the subset's operations (a merge request, its notes with GitLab's offset pagination, commit
statuses) under `/api/v4`, for projects addressed by numeric id or URL-encoded path (nested groups).
It keeps state (projects, merge requests, notes, statuses), records every request (never the
token), answers as GitLab does: `x-page`/`x-per-page`/`x-next-page`/`x-prev-page`/`x-total`/
`x-total-pages` and a `Link` header on lists, `{"message": "401 Unauthorized"}` and friends on
errors, `Retry later` with RateLimit-* and Retry-After on 429; a note longer than 1,000,000
characters is a 400, as on GitLab. `job_token` (CI_JOB_TOKEN) authenticates but may not write
notes or statuses: 403, as on GitLab. Every request and response is validated against the subset;
the test fixtures fail on any violation.

In-process: `with running_fake_gitlab() as fake: ...`; as a process for end-to-end tests:
`python tests/fakes/fake_gitlab.py --port 0 --state state.json` prints `{"url": ...}` on one line.
"""

from __future__ import annotations

import datetime as dt
import sys
import time
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

SPEC = Path(__file__).resolve().parent.parent / "contracts" / "gitlab-v4-subset.json"
DEFAULT_TOKEN = "glpat-FakeGitLabProjectTokenForCiTrack0123456789"
JOB_TOKEN = "glcbt-FakeGitLabJobTokenThatCannotWriteNotes42"
MAX_NOTE_LENGTH = 1_000_000
DEFAULT_PER_PAGE = 20
MAX_PER_PAGE = 100
BOT = {"id": 9001, "username": "project_42_bot", "name": "ci-track bot", "state": "active"}
HUMAN = {"id": 17, "username": "alice", "name": "Alice", "state": "active"}


def _now(age: float = 0.0) -> str:
    stamp = dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=age)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _message(status: int, text: str) -> Reply:
    return Reply(status, {"message": text})


class FakeGitLab(RestFake):
    name = "gitlab"
    first_ids: ClassVar[Mapping[str, int]] = {"note": 50000, "status": 700, "project": 41, "mr": 3000}

    def __init__(self, *, token: str = DEFAULT_TOKEN, job_token: str = JOB_TOKEN, **kwargs: Any) -> None:
        self.job_token = job_token
        self.projects: dict[int, dict[str, Any]] = {}
        self.mrs: dict[tuple[int, int], dict[str, Any]] = {}
        self.notes: dict[int, dict[str, Any]] = {}
        self.statuses: list[dict[str, Any]] = []
        self.rate_limit = 2000
        self.rate_used = 0
        kwargs.setdefault("contract", OpenApiContract(SPEC))
        super().__init__(token=token, **kwargs)
        self._caller: dict[str, Any] = BOT

    def handlers(self) -> dict[str, Callable[[Call], Reply]]:
        return {
            "getApiV4ProjectsIdMergeRequestsMergeRequestIid": self._get_mr,
            "getApiV4ProjectsIdMergeRequestsNoteableIdNotes": self._list_notes,
            "postApiV4ProjectsIdMergeRequestsNoteableIdNotes": self._create_note,
            "putApiV4ProjectsIdMergeRequestsNoteableIdNotesNoteId": self._update_note,
            "deleteApiV4ProjectsIdMergeRequestsNoteableIdNotesNoteId": self._delete_note,
            "postApiV4ProjectsIdStatusesSha": self._create_status,
        }

    # -- seeding ------------------------------------------------------------------------------
    def add_project(self, path: str) -> int:
        with self._lock:
            for project_id, project in self.projects.items():
                if project["path"] == path:
                    return project_id
            project_id = self.next_id("project")
            self.projects[project_id] = {"id": project_id, "path": path}
            self.changed()
            return project_id

    def add_mr(
        self,
        project: str,
        iid: int,
        *,
        sha: str = "c0ffee" + "0" * 34,
        source_branch: str = "feature",
        target_branch: str = "main",
        notes: int = 0,
        source_project: str | None = None,
    ) -> int:
        with self._lock:
            project_id = self.add_project(project)
            source_id = self.add_project(source_project) if source_project else project_id
            self.mrs[(project_id, iid)] = {
                "id": self.next_id("mr"),
                "iid": iid,
                "project_id": project_id,
                "source_project_id": source_id,
                "sha": sha,
                "source_branch": source_branch,
                "target_branch": target_branch,
            }
            for number in range(notes):
                system = number % 10 == 9  # GitLab's own "added 1 commit" notes are interleaved
                self.add_note(
                    project, iid, "added 1 commit" if system else f"Review remark {number + 1}.", system=system
                )
            self.changed()
            return project_id

    def add_note(self, project: str, iid: int, body: str, *, system: bool = False, user: dict[str, Any] = HUMAN) -> int:
        with self._lock:
            project_id = self.add_project(project)
            note_id = self.next_id("note")
            stamp = _now(86400)
            self.notes[note_id] = {
                "id": note_id,
                "project_id": project_id,
                "iid": iid,
                "body": body,
                "system": system,
                "author": user,
                "created_at": stamp,
                "updated_at": stamp,
            }
            return note_id

    # -- queries ------------------------------------------------------------------------------
    def notes_on(self, project: str, iid: int) -> list[dict[str, Any]]:
        with self._lock:
            project_id = self.add_project(project)
            found = [n for n in self.notes.values() if n["project_id"] == project_id and n["iid"] == iid]
            return sorted(found, key=lambda n: n["id"])

    def snapshot_state(self) -> dict[str, Any]:
        return {
            "projects": list(self.projects.values()),
            "notes": sorted(self.notes.values(), key=lambda n: n["id"]),
            "statuses": list(self.statuses),
        }

    # -- GitLab's manners ---------------------------------------------------------------------
    def authenticate(self, headers: Mapping[str, str]) -> Reply | None:
        self.rate_used += 1
        offered = headers.get("private-token", "").strip() or headers.get("job-token", "").strip()
        scheme, _, credential = headers.get("authorization", "").partition(" ")
        if not offered and scheme.lower() == "bearer":
            offered = credential.strip()
        if offered == self.token:
            self._caller = BOT
            return None
        if offered and offered == self.job_token:
            self._caller = {"id": 1, "username": "job-token", "name": "CI job", "state": "active"}
            return None
        return _message(401, "401 Unauthorized")

    def common_headers(self, reply: Reply) -> dict[str, str]:
        return {"x-request-id": f"FAKE{len(self.requests) + 1:06d}", "x-runtime": "0.010"}

    def fault_reply(self, fault: Fault) -> Reply:
        if fault.kind == "unauthorized":
            return _message(401, "401 Unauthorized")
        if fault.kind == "forbidden":
            return _message(403, "403 Forbidden")
        if fault.kind == "not-found":
            return _message(404, "404 Not found")
        if fault.kind == "bad-request":
            return Reply(400, {"error": "body is missing"})
        if fault.kind == "unprocessable":
            return Reply(422, {"message": {"base": ["Cannot transition status via :run from :running"]}})
        if fault.kind == "rate-limit":
            reset = int(time.time()) + (fault.retry_after or 1)
            return Reply(
                429,
                "Retry later",
                {
                    "ratelimit-name": "throttle_authenticated_api",
                    "ratelimit-limit": str(self.rate_limit),
                    "ratelimit-observed": str(self.rate_limit + 1),
                    "ratelimit-remaining": "0",
                    "ratelimit-reset": str(reset),
                    "ratelimit-resettime": time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(reset)),
                    "retry-after": str(fault.retry_after if fault.retry_after is not None else 1),
                },
            )
        return _message(500, "500 Internal Server Error")

    def _project(self, call: Call) -> int | Reply:
        raw = call.params["id"]  # already unquoted: "42" or "group/sub/proj"
        if raw.isdigit() and int(raw) in self.projects:
            return int(raw)
        for project_id, project in self.projects.items():
            if project["path"] == raw:
                return project_id
        return _message(404, "404 Project Not Found")

    def _mr(self, call: Call, key: str) -> tuple[int, dict[str, Any]] | Reply:
        project_id = self._project(call)
        if isinstance(project_id, Reply):
            return project_id
        mr = self.mrs.get((project_id, int(call.params[key])))
        return (project_id, mr) if mr else _message(404, "404 Not found")

    def _writes_denied(self) -> Reply | None:
        return _message(403, "403 Forbidden") if self._caller["username"] == "job-token" else None

    def _web(self, project_id: int) -> str:
        return f"{self.url}/{self.projects[project_id]['path']}"

    def _note_object(self, note: dict[str, Any]) -> dict[str, Any]:
        mr = self.mrs[(note["project_id"], note["iid"])]
        return {
            "id": note["id"],
            "type": None,
            "body": note["body"],
            "attachment": None,
            "author": {**note["author"], "avatar_url": None, "web_url": f"{self.url}/{note['author']['username']}"},
            "created_at": note["created_at"],
            "updated_at": note["updated_at"],
            "system": note["system"],
            "noteable_id": mr["id"],
            "noteable_type": "MergeRequest",
            "project_id": note["project_id"],
            "commit_id": None,
            "resolvable": False,
            "confidential": False,
            "internal": False,
            "imported": False,
            "imported_from": "none",
            "noteable_iid": note["iid"],
            "commands_changes": {},
        }

    # -- operations ---------------------------------------------------------------------------
    def _get_mr(self, call: Call) -> Reply:
        found = self._mr(call, "merge_request_iid")
        if isinstance(found, Reply):
            return found
        project_id, mr = found
        return Reply(
            200,
            {
                "id": mr["id"],
                "iid": mr["iid"],
                "project_id": project_id,
                "title": "A change",
                "state": "opened",
                "source_branch": mr["source_branch"],
                "target_branch": mr["target_branch"],
                "source_project_id": mr["source_project_id"],
                "target_project_id": project_id,
                "sha": mr["sha"],
                "merge_commit_sha": None,
                "web_url": f"{self._web(project_id)}/-/merge_requests/{mr['iid']}",
                "author": {**HUMAN, "avatar_url": None, "web_url": f"{self.url}/alice"},
            },
        )

    def _list_notes(self, call: Call) -> Reply:
        found = self._mr(call, "noteable_id")
        if isinstance(found, Reply):
            return found
        project_id, mr = found
        page = max(1, call.int_value("page", 1))
        per_page = min(MAX_PER_PAGE, max(1, call.int_value("per_page", DEFAULT_PER_PAGE)))
        key = call.query_value("order_by") or "created_at"
        notes = [n for n in self.notes.values() if n["project_id"] == project_id and n["iid"] == mr["iid"]]
        notes.sort(key=lambda n: (n[key], n["id"]), reverse=(call.query_value("sort") or "desc") == "desc")
        chunk, pages = rest_fake.page_of(notes, page, per_page)
        query = call.last_values()
        here = f"{self.url}{urllib.parse.quote(call.path, safe='/%')}"

        def to(target: int, rel: str) -> str:  # GitLab repeats `per_page` in every link
            return rest_fake.link(here, {**query, "page": target, "per_page": per_page}, rel)

        links = [to(page - 1, "prev")] if page > 1 else []
        links += [to(page + 1, "next")] if page < pages else []
        links += [to(1, "first"), to(pages, "last")]
        headers = {
            "x-page": str(page),
            "x-per-page": str(per_page),
            "x-next-page": str(page + 1) if page < pages else "",
            "x-prev-page": str(page - 1) if page > 1 else "",
            "x-total": str(len(notes)),
            "x-total-pages": str(pages),
            "link": ", ".join(links),
        }
        return Reply(200, [self._note_object(n) for n in chunk], headers)

    def _create_note(self, call: Call) -> Reply:
        found = self._mr(call, "noteable_id")
        if isinstance(found, Reply):
            return found
        denied = self._writes_denied()
        if denied:
            return denied
        project_id, mr = found
        text = call.body["body"]
        if len(text) > MAX_NOTE_LENGTH:
            return Reply(400, {"message": {"note": [f"is too long (maximum is {MAX_NOTE_LENGTH} characters)"]}})
        note_id = self.next_id("note")
        stamp = _now()
        self.notes[note_id] = {
            "id": note_id,
            "project_id": project_id,
            "iid": mr["iid"],
            "body": text,
            "system": False,
            "author": self._caller,
            "created_at": stamp,
            "updated_at": stamp,
        }
        return Reply(201, self._note_object(self.notes[note_id]))

    def _note(self, call: Call) -> dict[str, Any] | Reply:
        found = self._mr(call, "noteable_id")
        if isinstance(found, Reply):
            return found
        project_id, mr = found
        note = self.notes.get(int(call.params["note_id"]))
        if note is None or note["project_id"] != project_id or note["iid"] != mr["iid"]:
            return _message(404, "404 Note Not Found")
        return self._writes_denied() or note

    def _update_note(self, call: Call) -> Reply:
        note = self._note(call)
        if isinstance(note, Reply):
            return note
        text = (call.body or {}).get("body")
        if text is not None:
            if len(text) > MAX_NOTE_LENGTH:
                return Reply(400, {"message": {"note": [f"is too long (maximum is {MAX_NOTE_LENGTH} characters)"]}})
            note["body"] = text
            note["updated_at"] = _now()
        return Reply(200, self._note_object(note))

    def _delete_note(self, call: Call) -> Reply:
        note = self._note(call)
        if isinstance(note, Reply):
            return note
        del self.notes[note["id"]]
        return Reply(204)

    def _create_status(self, call: Call) -> Reply:
        project_id = self._project(call)
        if isinstance(project_id, Reply):
            return project_id
        denied = self._writes_denied()
        if denied:
            return denied
        fields = call.body
        status = {
            "id": self.next_id("status"),
            "project_id": project_id,
            "sha": call.params["sha"],
            "ref": fields.get("ref"),
            "status": fields["state"],
            "name": fields.get("name") or fields.get("context") or "default",
            "target_url": fields.get("target_url"),
            "description": fields.get("description"),
            "pipeline_id": fields.get("pipeline_id"),
            "created_at": _now(),
        }
        self.statuses.append(status)
        body = {k: v for k, v in status.items() if k != "project_id"}
        body.update(
            {
                "pipeline_id": status["pipeline_id"] or 1,
                "started_at": None,
                "finished_at": _now(),
                "allow_failure": False,
                "coverage": None,
                "author": {**self._caller, "avatar_url": None, "web_url": f"{self.url}/bot"},
            }
        )
        return Reply(201, body)


def running_fake_gitlab(
    *, project: str = "group/sub/ml-repo", iid: int | None = 7, notes: int = 0, **kwargs: Any
) -> AbstractContextManager[FakeGitLab]:
    fake = FakeGitLab(**kwargs)
    fake.add_project(project)
    if iid is not None:
        fake.add_mr(project, iid, notes=notes)
    return rest_fake.serving(fake)


def main(argv: list[str] | None = None) -> int:
    parser = rest_fake.command_line("A fake GitLab REST API v4", DEFAULT_TOKEN)
    parser.add_argument("--project", default="group/sub/ml-repo")
    parser.add_argument("--iid", type=int, default=7)
    parser.add_argument("--sha", default="c0ffee" + "0" * 34)
    parser.add_argument("--notes", type=int, default=0, help="existing notes on the MR (every tenth a system note)")
    args = parser.parse_args(argv)
    fake = FakeGitLab(token=args.token, state_file=args.state.resolve())
    fake.add_mr(args.project, args.iid, sha=args.sha, notes=args.notes)
    return rest_fake.serve_until_signalled(fake, args.port, lambda: {"project_id": fake.add_project(args.project)})


if __name__ == "__main__":
    sys.exit(main())
