"""Writes gitlab-v4-subset.json and bitbucket-2.0-subset.json: the GitLab and Bitbucket endpoints ci-track calls.

The subsets were cut by hand from the sources FORGES.md lists (the published descriptions are 1-2 MB
documents, and GitLab's types most entity fields as strings); this script is that cut, so a change
is reviewed here and the JSON files are regenerated with `python tests/contracts/make_forge_subsets.py`.
Each operation is one row of `paths(...)` and each document one `subset(...)`: what differs is data.
"""

# ruff: noqa: E501
import json
from pathlib import Path


def ref(name):
    return {"$ref": f"#/components/schemas/{name}"}


def typed(name):  # what Bitbucket sends always names its type; what a client sends need not
    return {"allOf": [ref(name), {"type": "object", "required": ["type"]}]}


def path_param(name, typ="string", desc=""):
    return {"in": "path", "name": name, "required": True, "schema": {"type": typ}, "description": desc}


def query(name, schema, desc=""):
    return {"in": "query", "name": name, "required": False, "schema": schema, "description": desc}


def body(schema, required=True):
    return {"required": required, "content": {"application/json": {"schema": schema}}}


def resp(desc, schema=None, headers=None):
    r = {"description": desc}
    if schema is not None:
        r["content"] = {"application/json": {"schema": schema}}
    if headers:
        r["headers"] = headers
    return r


def operation(operation_id, summary, parameters, responses, request_body=None):
    op = {"operationId": operation_id, "summary": summary, "parameters": parameters}
    if request_body is not None:
        op["requestBody"] = request_body
    op["responses"] = responses
    return op


def paths(*rows):
    """(template, method, *operation's arguments) rows -> the `paths` object, in the rows' order."""
    found = {}
    for template, method, *arguments in rows:
        found.setdefault(template, {})[method] = operation(*arguments)
    return found


def subset(info, paths, schemas):
    """The document: `info` holds title, version, x-subset-source and the x-* facts of the subset."""
    head = {key: info.pop(key) for key in ("title", "version", "x-subset-source")}
    return {"openapi": "3.0.3", "info": head, **info, "paths": paths, "components": {"schemas": schemas}}


# ---------------- GitLab ----------------
page_headers = {
    name: {"schema": {"type": "string", "pattern": r"^[0-9]*$"}, "description": desc}
    for name, desc in [
        ("x-next-page", "the next page's number; empty on the last page"),
        ("x-page", "this page's number"),
        ("x-per-page", "items a page"),
        ("x-prev-page", "the previous page's number; empty on the first page"),
        ("x-total", "the number of items (left out above 10,000)"),
        ("x-total-pages", "the number of pages (left out above 10,000 items)"),
    ]
}
page_headers["link"] = {"schema": {"type": "string"}, "description": "RFC 8288: rel=prev/next/first/last"}
gitlab_id = path_param("id", "string", "The ID or URL-encoded path of the project")
user_basic = {
    "type": "object",
    "required": ["id", "username"],
    "properties": {
        "id": {"type": "integer"},
        "username": {"type": "string"},
        "name": {"type": "string"},
        "state": {"type": "string"},
        "avatar_url": {"type": "string", "nullable": True},
        "web_url": {"type": "string"},
        "locked": {"type": "boolean"},
    },
}
note = {
    "type": "object",
    "required": ["id", "body", "author", "created_at", "updated_at", "system", "noteable_type"],
    "properties": {
        "id": {"type": "integer"},
        "type": {"type": "string", "nullable": True},
        "body": {"type": "string"},
        "attachment": {"nullable": True},
        "author": ref("API_Entities_UserBasic"),
        "created_at": {"type": "string", "format": "date-time"},
        "updated_at": {"type": "string", "format": "date-time"},
        "system": {"type": "boolean"},
        "noteable_id": {"type": "integer"},
        "noteable_type": {"type": "string", "enum": ["MergeRequest", "Issue", "Commit", "Snippet", "Epic", "WikiPage"]},
        "project_id": {"type": "integer"},
        "commit_id": {"type": "string", "nullable": True},
        "position": {"nullable": True},
        "resolvable": {"type": "boolean"},
        "resolved": {"type": "boolean"},
        "resolved_by": {"allOf": [ref("API_Entities_UserBasic")], "nullable": True},
        "resolved_at": {"type": "string", "nullable": True},
        "suggestions": {"type": "array"},
        "confidential": {"type": "boolean"},
        "internal": {"type": "boolean"},
        "imported": {"type": "boolean"},
        "imported_from": {"type": "string"},
        "noteable_iid": {"type": "integer"},
        "commands_changes": {"type": "object"},
    },
}
commit_status = {
    "type": "object",
    "required": ["id", "sha", "status", "name"],
    "properties": {
        "id": {"type": "integer"},
        "sha": {"type": "string"},
        "ref": {"type": "string", "nullable": True},
        "status": {"type": "string", "enum": ["pending", "running", "success", "failed", "canceled", "skipped"]},
        "name": {"type": "string"},
        "target_url": {"type": "string", "nullable": True},
        "description": {"type": "string", "nullable": True},
        "created_at": {"type": "string", "format": "date-time"},
        "started_at": {"type": "string", "nullable": True},
        "finished_at": {"type": "string", "nullable": True},
        "allow_failure": {"type": "boolean"},
        "coverage": {"type": "number", "nullable": True},
        "pipeline_id": {"type": "integer"},
        "author": ref("API_Entities_UserBasic"),
    },
}
merge_request = {
    "type": "object",
    "required": ["id", "iid", "project_id", "sha", "source_branch", "target_branch", "state", "web_url"],
    "properties": {
        "id": {"type": "integer"},
        "iid": {"type": "integer"},
        "project_id": {"type": "integer"},
        "title": {"type": "string"},
        "state": {"type": "string", "enum": ["opened", "closed", "locked", "merged"]},
        "source_branch": {"type": "string"},
        "target_branch": {"type": "string"},
        "source_project_id": {"type": "integer"},
        "target_project_id": {"type": "integer"},
        "sha": {"type": "string"},
        "merge_commit_sha": {"type": "string", "nullable": True},
        "web_url": {"type": "string"},
        "author": ref("API_Entities_UserBasic"),
        "diff_refs": {
            "type": "object",
            "properties": {
                "base_sha": {"type": "string"},
                "head_sha": {"type": "string"},
                "start_sha": {"type": "string"},
            },
        },
    },
}
error = {
    "type": "object",
    "description": 'GitLab\'s error body: {"message": "401 Unauthorized"}, {"message": {"note": ["is too long"]}} (validation), or {"error": "body is missing"} (a missing parameter)',
    "properties": {
        "message": {
            "oneOf": [
                {"type": "string"},
                {"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}}},
            ]
        },
        "error": {"type": "string"},
    },
    "minProperties": 1,
}
notes_path = "/api/v4/projects/{id}/merge_requests/{noteable_id}/notes"
note_path = notes_path + "/{note_id}"
gitlab_info = {
    "title": "GitLab REST API v4: the subset ci-track calls",
    "version": "v4",
    "x-subset-source": {
        "description": "GitLab's published description, doc/api/openapi/openapi_v2.yaml of gitlabhq/gitlabhq (Swagger 2.0, generated by grape-swagger), commit 0338625c4996c8b4dde44bd86d1767b654121ee7; see tests/contracts/FORGES.md for which fact came from where",
        "operations": "the operationIds, paths, path/query parameters and response statuses of the six operations below as that file declares them",
        "schemas": "API_Entities_Note, API_Entities_CommitStatus, API_Entities_UserBasic and the request bodies: their property names from that file (as rendered per definition by swagger-codegen in AdamJCrawford/GitLab-client go-client/docs/, commit 07848b4a9fc2a3f0447e676e94f5e2f1b8b82138, and per operation in Yuyz0112/public-api-skills apis/gitlab/gitlab-rest-api/, commit 3df01d7e408a03dad6c16a7750e31eb46ccd7ed9); their types from GitLab's REST API documentation (doc/api/notes.md, commits.md, merge_requests.md), because the description types most entity fields as strings (x-known-faults)",
        "not-in-the-description": "pagination headers, error bodies, rate-limit headers, the note length limit: from doc/api/rest/index.md and doc/security/rate_limits.md (x-facts)",
    },
    "x-known-faults": [
        "grape-swagger types most API_Entities_Note fields as `string` (id, system, noteable_id...), but GitLab sends integers and booleans (the examples of doc/api/notes.md): the subset uses the sent types",
        "postApiV4ProjectsIdStatusesSha declares 200, GitLab answers 201 Created (doc/api/commits.md example): both are declared here",
    ],
    "x-facts": [
        "offset pagination: `page` (default 1) and `per_page` (default 20, at most 100); every list answer carries x-page, x-per-page, x-next-page (empty on the last page), x-prev-page, x-total, x-total-pages (the last two left out above 10,000 items) and a Link header with rel=prev/next/first/last",
        "a project is addressed by its numeric id or its URL-encoded path: group%2Fsub%2Fproj",
        'a note body is at most 1,000,000 characters: a longer one answers 400 {"message": {"note": ["is too long (maximum is 1000000 characters)"]}}',
        '401 {"message": "401 Unauthorized"}; 403 {"message": "403 Forbidden"}; 404 {"message": "404 Not found"} (or "404 Project Not Found"); 400 {"error": "body is missing"} for a missing parameter',
        "rate limits answer 429 with the plain-text body `Retry later` and the headers RateLimit-Name, RateLimit-Limit, RateLimit-Observed, RateLimit-Remaining, RateLimit-Reset (Unix time), RateLimit-ResetTime (HTTP date) and Retry-After (seconds)",
        "CI_JOB_TOKEN cannot create notes or commit statuses: a project or group access token (api scope) is needed; authentication by `PRIVATE-TOKEN: <token>` or `Authorization: Bearer <token>`",
    ],
    "x-error-schemas": {"default": "API_Error", "429": None},
}
notes_page = [
    query("order_by", {"type": "string", "enum": ["created_at", "updated_at"], "default": "created_at"}),
    query("sort", {"type": "string", "enum": ["asc", "desc"], "default": "desc"}),
    query("activity_filter", {"type": "string", "enum": ["all_notes", "only_comments", "only_activity"]}),
    query("page", {"type": "integer", "minimum": 1, "default": 1}, "Current page number"),
    query("per_page", {"type": "integer", "minimum": 1, "maximum": 100, "default": 20}, "Number of items per page"),
]
noteable = path_param("noteable_id", "integer", "The ID of the noteable")
note_body = {
    "type": "object",
    "required": ["body"],
    "additionalProperties": False,
    "properties": {
        "body": {"type": "string", "description": "The content of a note"},
        "confidential": {"type": "boolean"},
        "internal": {"type": "boolean"},
        "created_at": {"type": "string"},
        "merge_request_diff_head_sha": {"type": "string"},
    },
}
note_update = {
    "type": "object",
    "additionalProperties": False,
    "properties": {"body": {"type": "string"}, "confidential": {"type": "boolean"}},
}
status_body = {
    "type": "object",
    "required": ["state"],
    "additionalProperties": False,
    "properties": {
        "state": {
            "type": "string",
            "enum": ["pending", "running", "success", "failed", "canceled", "skipped"],
            "description": "The state of the status",
        },
        "ref": {"type": "string"},
        "target_url": {"type": "string"},
        "description": {"type": "string"},
        "name": {"type": "string"},
        "context": {"type": "string"},
        "coverage": {"type": "number"},
        "pipeline_id": {"type": "integer"},
    },
}
note_list = {"type": "array", "items": ref("API_Entities_Note")}
status = ref("API_Entities_CommitStatus")
gitlab_paths = paths(
    (
        "/api/v4/projects/{id}/merge_requests/{merge_request_iid}",
        "get",
        "getApiV4ProjectsIdMergeRequestsMergeRequestIid",
        "Get single merge request",
        [gitlab_id, path_param("merge_request_iid", "integer", "The internal ID of the merge request")],
        {"200": resp("Get single merge request", ref("API_Entities_MergeRequest"))},
    ),
    (
        notes_path,
        "get",
        "getApiV4ProjectsIdMergeRequestsNoteableIdNotes",
        "Get a list of merge request notes",
        [gitlab_id, noteable, *notes_page],
        {"200": resp("Get a list of merge request notes", note_list, page_headers)},
    ),
    (
        notes_path,
        "post",
        "postApiV4ProjectsIdMergeRequestsNoteableIdNotes",
        "Create a new merge request note",
        [gitlab_id, noteable],
        {"201": resp("Create a new merge request note", ref("API_Entities_Note"))},
        body(note_body),
    ),
    (
        note_path,
        "put",
        "putApiV4ProjectsIdMergeRequestsNoteableIdNotesNoteId",
        "Update an existing merge request note",
        [gitlab_id, path_param("noteable_id", "integer"), path_param("note_id", "integer", "The ID of a note")],
        {"200": resp("Update an existing merge request note", ref("API_Entities_Note"))},
        body(note_update),
    ),
    (
        note_path,
        "delete",
        "deleteApiV4ProjectsIdMergeRequestsNoteableIdNotesNoteId",
        "Delete a merge request note",
        [gitlab_id, path_param("noteable_id", "integer"), path_param("note_id", "integer")],
        {"204": resp("Delete a merge request note")},
    ),
    (
        "/api/v4/projects/{id}/statuses/{sha}",
        "post",
        "postApiV4ProjectsIdStatusesSha",
        "Post status to a commit",
        [gitlab_id, path_param("sha", "string", "The commit hash")],
        {
            "200": resp("OK", status),
            "201": resp("Created (what GitLab answers; x-known-faults)", status),
            "409": resp("Another update to this commit status is in progress", ref("API_Error")),
        },
        body(status_body),
    ),
)
gitlab = subset(
    gitlab_info,
    gitlab_paths,
    {
        "API_Entities_UserBasic": user_basic,
        "API_Entities_Note": note,
        "API_Entities_CommitStatus": commit_status,
        "API_Entities_MergeRequest": merge_request,
        "API_Error": error,
    },
)


# ---------------- Bitbucket ----------------
link = {"type": "object", "properties": {"href": {"type": "string"}, "name": {"type": "string"}}}
account = {
    "type": "object",
    "required": ["type"],
    "properties": {
        "type": {"type": "string"},
        "uuid": {"type": "string"},
        "display_name": {"type": "string"},
        "nickname": {"type": "string"},
        "account_id": {"type": "string"},
        "links": {"type": "object", "additionalProperties": ref("link")},
    },
}
content = {
    "type": "object",
    "properties": {
        "raw": {"type": "string", "description": "The text as it was typed by a user."},
        "markup": {"type": "string", "enum": ["markdown", "creole", "plaintext"]},
        "html": {"type": "string", "description": "The user's content rendered as HTML."},
    },
}
comment = {
    "type": "object",
    "properties": {
        "type": {"type": "string"},
        "id": {"type": "integer"},
        "created_on": {"type": "string", "format": "date-time"},
        "updated_on": {"type": "string", "format": "date-time"},
        "content": ref("content"),
        "user": ref("account"),
        "deleted": {"type": "boolean"},
        "parent": {"type": "object"},
        "inline": {"type": "object"},
        "links": {"type": "object", "properties": {"self": ref("link"), "html": ref("link"), "code": ref("link")}},
        "pending": {"type": "boolean"},
    },
}
pr_comment = {
    "allOf": [
        ref("comment"),
        {
            "type": "object",
            "properties": {"pullrequest": {"type": "object"}, "resolution": {"type": "object", "nullable": True}},
        },
    ]
}
paginated = {
    "type": "object",
    "properties": {
        "size": {"type": "integer", "minimum": 0},
        "page": {"type": "integer", "minimum": 1},
        "pagelen": {"type": "integer", "minimum": 1},
        "next": {"type": "string", "format": "uri"},
        "previous": {"type": "string", "format": "uri"},
        "values": {"type": "array", "minItems": 0, "uniqueItems": True, "items": typed("pullrequest_comment")},
    },
}
commitstatus = {
    "type": "object",
    "properties": {
        "type": {"type": "string"},
        "uuid": {"type": "string"},
        "key": {
            "type": "string",
            "description": 'An identifier for the status that\'s unique to its type (current "build" is the only supported type) and the vendor, e.g. BB-DEPLOY',
        },
        "refname": {"type": "string"},
        "url": {"type": "string"},
        "state": {"type": "string", "enum": ["INPROGRESS", "SUCCESSFUL", "FAILED", "STOPPED"]},
        "name": {"type": "string"},
        "description": {"type": "string"},
        "created_on": {"type": "string", "format": "date-time"},
        "updated_on": {"type": "string", "format": "date-time"},
        "links": {"type": "object", "properties": {"self": ref("link"), "commit": ref("link")}},
    },
}
commitstatus_request = {"allOf": [ref("commitstatus"), {"type": "object", "required": ["key", "state", "url"]}]}
bb_error = {
    "type": "object",
    "required": ["type", "error"],
    "properties": {
        "type": {"type": "string", "enum": ["error"]},
        "error": {
            "type": "object",
            "required": ["message"],
            "properties": {"message": {"type": "string"}, "detail": {"type": "string"}, "data": {"type": "object"}},
        },
    },
}
pullrequest = {
    "type": "object",
    "required": ["type", "id", "source", "destination", "state"],
    "properties": {
        "type": {"type": "string"},
        "id": {"type": "integer"},
        "title": {"type": "string"},
        "state": {"type": "string", "enum": ["OPEN", "MERGED", "DECLINED", "SUPERSEDED"]},
        "source": ref("pullrequest_endpoint"),
        "destination": ref("pullrequest_endpoint"),
        "links": {"type": "object", "additionalProperties": ref("link")},
    },
}
endpoint = {
    "type": "object",
    "properties": {
        "branch": {"type": "object", "properties": {"name": {"type": "string"}}},
        "commit": {"type": "object", "properties": {"hash": {"type": "string", "pattern": "^[0-9a-f]{7,40}$"}}},
        "repository": {"type": "object"},
    },
}
ws = path_param(
    "workspace", "string", "This can either be the workspace ID (slug) or the workspace UUID surrounded by curly-braces"
)
slug = path_param(
    "repo_slug",
    "string",
    "This can either be the repository slug or the UUID of the repository, surrounded by curly-braces",
)
prid = path_param("pull_request_id", "integer", "The id of the pull request.")
cid = path_param("comment_id", "integer", "The id of the comment.")
base = "/repositories/{workspace}/{repo_slug}"
pagination = [
    query("pagelen", {"type": "integer", "minimum": 1, "maximum": 100}, "x-facts: page length"),
    query("page", {"type": "integer", "minimum": 1}, "x-facts: page number"),
]
bitbucket_info = {
    "title": "Bitbucket Cloud API 2.0: the subset ci-track calls",
    "version": "2.0",
    "x-subset-source": {
        "description": "Atlassian's published description of api.bitbucket.org (https://api.bitbucket.org/swagger.json; its OpenAPI 3 form as vendored by backstage/backstage plugins/bitbucket-cloud-common/bitbucket-cloud.oas.json, commit 0e452ad6eb37b9cc307d7dbaef4263509db9287f, and an older Swagger 2.0 capture in APIs-guru/openapi-directory APIs/bitbucket.org/2.0/swagger.yaml, commit 00b2957e74c1a1ff1582f1363bd3e17e0034d172); see tests/contracts/FORGES.md for which fact came from where",
        "operations": "paths and parameters as the current description names them ({workspace}, {repo_slug}, {pull_request_id}, {comment_id}, {commit})",
        "schemas": "commitstatus (its properties and the state enum, as rendered by openapi-generator in paragonsean/openapi-directory APIs/bitbucket.org/2.0/java-client/docs/Commitstatus.md), comment / pullrequest_comment (Comment.md, PullrequestComment.md there), paginated_* (size, page, pagelen, next, previous, values), error ({type: error, error: {message, detail, data}})",
        "not-in-the-description": "the pagination query parameters, the rate-limit headers, the required fields of a build status: from Atlassian's REST API documentation (x-facts)",
    },
    "x-known-faults": [],
    "x-facts": [
        "lists are paginated in the body: `values`, `pagelen`, `size`, `page`, and a `next` URL until the last page; `pagelen` is at most 100 on comments (the default is 10)",
        "a build status needs `key`, `state` and `url`; posting the same key again for a commit updates that status",
        'errors answer {"type": "error", "error": {"message": ..., "detail": ...}}: 401 for a missing or bad token, 403 when the token lacks the scope, 404 for an unknown repository, PR or comment, 400 for a bad body',
        "rate limits answer 429; responses carry X-RateLimit-Limit, X-RateLimit-Resource and X-RateLimit-NearLimit (true below 20% of the limit); no reset time is sent",
        "repository and workspace access tokens are sent as `Authorization: Bearer <token>`",
        "a deleted comment stays in the list with `deleted: true` and an empty body",
    ],
    "x-error-schemas": {"default": "error"},
}


def bb_errors(*statuses):
    """Bitbucket's error responses, each with its error body."""
    return {status: resp(BB_ERRORS[status], ref("error")) for status in statuses}


BB_ERRORS = {"401": "unauthenticated", "403": "forbidden", "404": "not found"}
comments = base + "/pullrequests/{pull_request_id}/comments"
new_comment = {
    "allOf": [
        ref("pullrequest_comment"),
        {"type": "object", "required": ["content"], "properties": {"content": {"type": "object", "required": ["raw"]}}},
    ]
}
bitbucket_paths = paths(
    (
        base + "/pullrequests/{pull_request_id}",
        "get",
        "getPullRequest",
        "Get a pull request",
        [ws, slug, prid],
        {"200": resp("The pull request object", ref("pullrequest")), **bb_errors("404")},
    ),
    (
        comments,
        "get",
        "listPullRequestComments",
        "List comments on a pull request",
        [ws, slug, prid, *pagination],
        {
            "200": resp("A paginated list of comments", ref("paginated_pullrequest_comments")),
            **bb_errors("403", "404"),
        },
    ),
    (
        comments,
        "post",
        "createPullRequestComment",
        "Create a comment on a pull request",
        [ws, slug, prid],
        {"201": resp("The newly created comment.", typed("pullrequest_comment")), **bb_errors("403", "404")},
        body(new_comment),
    ),
    (
        comments + "/{comment_id}",
        "put",
        "updatePullRequestComment",
        "Update a comment on a pull request",
        [ws, slug, prid, cid],
        {"200": resp("The updated comment.", typed("pullrequest_comment")), **bb_errors("403", "404")},
        body(ref("pullrequest_comment")),
    ),
    (
        comments + "/{comment_id}",
        "delete",
        "deletePullRequestComment",
        "Delete a comment on a pull request",
        [ws, slug, prid, cid],
        {"204": resp("Successful deletion."), **bb_errors("403", "404")},
    ),
    (
        base + "/commit/{commit}/statuses/build",
        "post",
        "createCommitBuildStatus",
        "Create a build status for a commit",
        [ws, slug, path_param("commit", "string", "The commit's SHA1.")],
        {"201": resp("The newly created build status object.", typed("commitstatus")), **bb_errors("401", "404")},
        body(ref("commitstatus_request")),
    ),
)
bitbucket = subset(
    bitbucket_info,
    bitbucket_paths,
    {
        "link": link,
        "account": account,
        "content": content,
        "comment": comment,
        "pullrequest_comment": pr_comment,
        "paginated_pullrequest_comments": paginated,
        "commitstatus": commitstatus,
        "commitstatus_request": commitstatus_request,
        "error": bb_error,
        "pullrequest": pullrequest,
        "pullrequest_endpoint": endpoint,
    },
)
out = Path(__file__).resolve().parent
(out / "gitlab-v4-subset.json").write_text(json.dumps(gitlab, indent=1) + "\n")
(out / "bitbucket-2.0-subset.json").write_text(json.dumps(bitbucket, indent=1) + "\n")
