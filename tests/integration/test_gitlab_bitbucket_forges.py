"""GitLab and Bitbucket through the Forge interface, against their stateful, contract-checked fakes.

The same guarantees as GitHub's sticky comment: one per experiment, found on every page, updated in
place, duplicates from races removed; the commit status on the head; a read-only token is a
warning (`forbidden`), every other refusal a ForgeError whose message holds no token; rate limits
are waited out the way each forge asks.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest

from ci_track.errors import ForgeError
from ci_track.forges import bitbucket, gitlab
from ci_track.forges.rest import ForgeSession, link_next
from ci_track.report.text import comment_marker
from ci_track.settings import BitbucketSettings, GitLabSettings
from ci_track.transport import RetryPolicy
from tests.fakes import fake_bitbucket, fake_gitlab
from tests.fakes.fake_bitbucket import FakeBitbucket, running_fake_bitbucket
from tests.fakes.fake_gitlab import FakeGitLab, running_fake_gitlab
from tests.fakes.rest_fake import FAULT_KINDS, serve_checked

PROJECT = "group/sub/ml-repo"  # nested groups
REPO = "acme/ml-repo"
HEAD = "c0ffee" + "0" * 34


class Waits:
    """An injected clock: the retries' waits are recorded, never slept."""

    def __init__(self) -> None:
        self.slept: list[float] = []
        self.lines: list[str] = []

    def policy(self) -> RetryPolicy:
        return RetryPolicy(max_attempts=4, max_wait=120.0, sleep=self.slept.append, progress=self.lines.append)


@pytest.fixture
def waits() -> Waits:
    return Waits()


@pytest.fixture
def glab() -> Iterator[FakeGitLab]:
    yield from serve_checked(running_fake_gitlab(project=PROJECT, notes=150))


@pytest.fixture
def bbucket() -> Iterator[FakeBitbucket]:
    yield from serve_checked(running_fake_bitbucket(repository=REPO, comments=150))


def gitlab_forge(fake: FakeGitLab, waits: Waits, **env: str) -> gitlab.GitLabForge:
    environ = {
        "CI_TRACK_GITLAB_TOKEN": fake_gitlab.DEFAULT_TOKEN,
        "CI_SERVER_URL": fake.url,  # self-managed: the API is CI_SERVER_URL/api/v4
        "CI_PROJECT_URL": f"{fake.url}/{PROJECT}",
        **env,
    }
    settings = GitLabSettings.from_env(environ, project=PROJECT, head_sha=HEAD)
    return gitlab.GitLabForge(gitlab.connect(settings, policy=waits.policy()), settings)


def bitbucket_forge(fake: FakeBitbucket, waits: Waits, **env: str) -> bitbucket.BitbucketForge:
    environ = {
        "CI_TRACK_BITBUCKET_TOKEN": fake_bitbucket.DEFAULT_TOKEN,
        "CI_TRACK_BITBUCKET_API_URL": f"{fake.url}/2.0",
        **env,
    }
    settings = BitbucketSettings.from_env(environ, repository=REPO, build_url="https://ci.example/build/1")
    return bitbucket.BitbucketForge(bitbucket.connect(settings, policy=waits.policy()), settings)


def ours_on_gitlab(fake: FakeGitLab, key: str = "exp") -> list[dict[str, Any]]:
    return [n for n in fake.notes_on(PROJECT, 7) if comment_marker(key) in n["body"]]


def ours_on_bitbucket(fake: FakeBitbucket, key: str = "exp") -> list[dict[str, Any]]:
    return [c for c in fake.comments_on(REPO, 7) if comment_marker(key) in c["raw"]]


# --- GitLab -------------------------------------------------------------------------------------


def test_gitlab_note_is_found_past_the_first_page_and_updated_in_place(glab: FakeGitLab, waits: Waits) -> None:
    forge = gitlab_forge(glab, waits)
    first = forge.post_sticky_comment(7, "report one", key="exp", mode="update", passed=True)
    glab.add_note(PROJECT, 7, "a later human note")  # ours is no longer on the last page alone
    second = forge.post_sticky_comment(7, "report two", key="exp", mode="update", passed=True)
    assert (first.action, second.action) == ("created", "updated")
    assert first.comment_id == second.comment_id
    assert [n["body"] for n in ours_on_gitlab(glab)] == [f"{comment_marker('exp')}\nreport two"]
    assert second.html_url == f"{glab.url}/{PROJECT}/-/merge_requests/7#note_{second.comment_id}"
    pages = [r["query"]["page"] for r in glab.requests_for("getApiV4ProjectsIdMergeRequestsNoteableIdNotes")]
    assert pages == ["1", "2", "1", "2", "1", "2"]  # 151 notes at 100 a page, x-next-page followed
    assert len(glab.notes_on(PROJECT, 7)) == 152  # nobody else's note touched
    assert {r["authorization"] for r in glab.requests} == {"bearer"}
    forge.close()


def test_gitlab_duplicates_are_removed_keeping_the_oldest(glab: FakeGitLab, waits: Waits) -> None:
    marker = comment_marker("exp")
    keep = glab.add_note(PROJECT, 7, f"{marker}\nold", user=fake_gitlab.BOT)
    glab.add_note(PROJECT, 7, f"{marker}\nolder race", user=fake_gitlab.BOT)
    glab.add_note(PROJECT, 7, f"{comment_marker('exp-v2')}\nanother experiment", user=fake_gitlab.BOT)
    outcome = gitlab_forge(glab, waits).post_sticky_comment(7, "fresh", key="exp", mode="update", passed=False)
    assert (outcome.action, outcome.comment_id, outcome.deleted) == ("updated", keep, 1)
    assert [n["id"] for n in ours_on_gitlab(glab)] == [keep]
    assert len(ours_on_gitlab(glab, "exp-v2")) == 1


def test_gitlab_concurrent_posters_converge_on_one_note(glab: FakeGitLab, waits: Waits) -> None:
    glab.rendezvous("postApiV4ProjectsIdMergeRequestsNoteableIdNotes", 3)  # all three found none, all create
    results: list[Any] = []

    def post(number: int) -> None:
        forge = gitlab_forge(glab, Waits())
        results.append(forge.post_sticky_comment(7, f"report {number}", key="exp", mode="update", passed=True))

    threads = [threading.Thread(target=post, args=(n,)) for n in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(results) == 3
    assert len(ours_on_gitlab(glab)) == 1
    assert len({r.comment_id for r in results}) == 1


def test_gitlab_new_and_delete_on_pass(glab: FakeGitLab, waits: Waits) -> None:
    forge = gitlab_forge(glab, waits)
    first = forge.post_sticky_comment(7, "one", key="exp", mode="update", passed=False)
    renewed = forge.post_sticky_comment(7, "two", key="exp", mode="new", passed=False)
    assert renewed.action == "created" and renewed.comment_id != first.comment_id and renewed.deleted == 1
    kept = forge.post_sticky_comment(7, "three", key="exp", mode="delete-on-pass", passed=False)
    assert kept.action == "updated"
    gone = forge.post_sticky_comment(7, "four", key="exp", mode="delete-on-pass", passed=True)
    assert (gone.action, gone.deleted, ours_on_gitlab(glab)) == ("deleted", 1, [])


def test_gitlab_status_is_on_the_head_and_linked_to_its_pipeline(glab: FakeGitLab, waits: Waits) -> None:
    on_head = gitlab_forge(glab, waits, CI_PIPELINE_ID="1234", CI_COMMIT_SHA=HEAD)
    outcome = on_head.set_status(HEAD, key="exp", passed=False, description="rmse +8%", target_url="https://ml/run")
    merged = gitlab_forge(glab, waits, CI_PIPELINE_ID="1235", CI_COMMIT_SHA="e" * 40)  # merged-results pipeline
    merged.set_status(HEAD, key="exp", passed=True, description="pass", target_url=None)
    assert (outcome.action, outcome.context, outcome.state) == ("created", "ci-track/exp", "failed")
    first, second = glab.statuses
    assert (first["sha"], first["name"], first["status"]) == (HEAD, "ci-track/exp", "failed")
    assert first["pipeline_id"] == 1234
    assert first["target_url"] == "https://ml/run"
    assert (second["status"], second["pipeline_id"]) == ("success", None)  # the merge commit's pipeline: not linked


def test_gitlab_job_token_may_read_but_not_write_notes(glab: FakeGitLab, waits: Waits) -> None:
    forge = gitlab_forge(glab, waits, CI_TRACK_GITLAB_TOKEN=fake_gitlab.JOB_TOKEN)
    comment = forge.post_sticky_comment(7, "report", key="exp", mode="update", passed=True)
    status = forge.set_status(HEAD, key="exp", passed=True, description="pass", target_url=None)
    assert comment.forbidden and status.forbidden
    assert "403 Forbidden" in comment.warning
    assert ours_on_gitlab(glab) == []


def test_gitlab_rejected_token_is_an_error_without_the_token(glab: FakeGitLab, waits: Waits) -> None:
    forge = gitlab_forge(glab, waits, CI_TRACK_GITLAB_TOKEN="glpat-WrongTokenThatMustNeverBePrinted0000")
    with pytest.raises(ForgeError) as caught:
        forge.post_sticky_comment(7, "report", key="exp", mode="update", passed=True)
    message = str(caught.value)
    assert "401 Unauthorized" in message and "CI_JOB_TOKEN cannot write notes" in message
    assert "WrongToken" not in message


def test_gitlab_unknown_merge_request_is_a_not_found_error(glab: FakeGitLab, waits: Waits) -> None:
    with pytest.raises(ForgeError, match="404 Not found"):
        gitlab_forge(glab, waits).post_sticky_comment(99, "report", key="exp", mode="update", passed=True)


def test_gitlab_rate_limit_waits_retry_after_then_succeeds(glab: FakeGitLab, waits: Waits) -> None:
    glab.fail("rate-limit", times=2, operation="postApiV4ProjectsIdStatusesSha", retry_after=7)
    outcome = gitlab_forge(glab, waits).set_status(HEAD, key="exp", passed=True, description="ok", target_url=None)
    assert outcome.action == "created"
    assert waits.slept == [7.0, 7.0]
    assert "HTTP 429" in waits.lines[0]


def test_gitlab_validation_error_is_reported_in_gitlabs_words(glab: FakeGitLab, waits: Waits) -> None:
    glab.fail("unprocessable", operation="postApiV4ProjectsIdStatusesSha")
    with pytest.raises(ForgeError, match="Cannot transition status"):
        gitlab_forge(glab, waits).set_status(HEAD, key="exp", passed=True, description="ok", target_url=None)


def test_gitlab_merge_request_head(glab: FakeGitLab, waits: Waits) -> None:
    assert gitlab_forge(glab, waits).pull_request_head(7) == HEAD


def test_a_link_header_alone_names_the_next_page() -> None:
    header = '<https://gl.example/api/v4/x?page=1>; rel="prev", <https://gl.example/api/v4/x?page=3>; rel="next"'
    assert link_next(header) == "https://gl.example/api/v4/x?page=3"
    assert link_next('<https://gl.example/api/v4/x?page=1>; rel="first"') is None


def test_a_next_page_on_another_host_is_not_followed() -> None:
    session = ForgeSession(
        name="GitLab",
        base_url="https://gitlab.example/api/v4",
        token="glpat-NeverSentElsewhere000000000",
        policy=RetryPolicy(max_attempts=1),
        timeout=1,
        error=ForgeError,
        auth_advice="",
    )
    assert session.same_origin("https://gitlab.example/api/v4/projects?page=2")
    assert not session.same_origin("https://evil.example/api/v4/projects?page=2")
    assert not session.same_origin("http://gitlab.example/api/v4/projects?page=2")  # not downgraded either


# --- Bitbucket ----------------------------------------------------------------------------------


def test_bitbucket_comment_is_found_past_the_first_page_and_updated_in_place(
    bbucket: FakeBitbucket, waits: Waits
) -> None:
    forge = bitbucket_forge(bbucket, waits)
    first = forge.post_sticky_comment(7, "report one", key="exp", mode="update", passed=True)
    bbucket.add_comment(REPO, 7, "a later human comment")
    second = forge.post_sticky_comment(7, "report two", key="exp", mode="update", passed=True)
    assert (first.action, second.action, first.comment_id) == ("created", "updated", second.comment_id)
    assert [c["raw"] for c in ours_on_bitbucket(bbucket)] == [f"{comment_marker('exp')}\nreport two"]
    assert second.html_url and second.html_url.endswith(f"/acme/ml-repo/pull-requests/7#comment-{second.comment_id}")
    listing = bbucket.requests_for("listPullRequestComments")
    assert [r["query"].get("page") for r in listing] == [None, "2", None, "2", None, "2"]  # the `next` URL
    assert {r["query"]["pagelen"] for r in listing} == {"100"}


def test_bitbucket_deleted_comments_are_never_ours_and_duplicates_go(bbucket: FakeBitbucket, waits: Waits) -> None:
    marker = comment_marker("exp")
    keep = bbucket.add_comment(REPO, 7, f"{marker}\nfirst", user=fake_bitbucket.BOT)
    bbucket.add_comment(REPO, 7, f"{marker}\nsecond", user=fake_bitbucket.BOT)
    gone = bbucket.add_comment(REPO, 7, f"{marker}\ngone", user=fake_bitbucket.BOT)
    bbucket.comments[gone]["deleted"] = True
    outcome = bitbucket_forge(bbucket, waits).post_sticky_comment(7, "fresh", key="exp", mode="update", passed=True)
    assert (outcome.action, outcome.comment_id, outcome.deleted) == ("updated", keep, 1)
    assert [c["id"] for c in ours_on_bitbucket(bbucket)] == [keep]


def test_bitbucket_build_status_is_keyed_by_experiment(bbucket: FakeBitbucket, waits: Waits) -> None:
    forge = bitbucket_forge(bbucket, waits)
    forge.set_status(HEAD, key="exp", passed=False, description="rmse +8%", target_url="https://ml/run")
    forge.set_status(HEAD, key="exp", passed=True, description="pass", target_url=None)
    (status,) = bbucket.statuses.values()  # one key, replaced
    assert (status["key"], status["state"], status["commit"]) == ("ci-track/exp", "SUCCESSFUL", HEAD)
    assert status["url"] == "https://ci.example/build/1"  # no run URL: the pipeline


def test_bitbucket_scope_refusal_is_forbidden_and_other_errors_fail(bbucket: FakeBitbucket, waits: Waits) -> None:
    forge = bitbucket_forge(bbucket, waits)
    bbucket.fail("forbidden", operation="createPullRequestComment")
    assert forge.post_sticky_comment(7, "r", key="exp", mode="update", passed=True).forbidden
    bbucket.fail("bad-request", operation="createCommitBuildStatus")
    with pytest.raises(ForgeError, match="Bad request: the request body is not valid"):
        forge.set_status(HEAD, key="exp", passed=True, description="ok", target_url=None)
    wrong = bitbucket_forge(bbucket, waits, CI_TRACK_BITBUCKET_TOKEN="ATCTT3xFfGN0WrongTokenNeverPrinted0000")
    with pytest.raises(ForgeError) as caught:
        wrong.pull_request_head(7)
    assert "HTTP 401 Unauthorized" in str(caught.value) and "WrongToken" not in str(caught.value)


def test_bitbucket_rate_limit_backs_off_without_a_reset_time(bbucket: FakeBitbucket, waits: Waits) -> None:
    bbucket.fail("rate-limit", times=2, operation="listPullRequestComments")
    outcome = bitbucket_forge(bbucket, waits).post_sticky_comment(7, "r", key="exp", mode="update", passed=True)
    assert outcome.action == "created"
    assert waits.slept == [1.0, 2.0]  # Bitbucket sends no Retry-After: exponential backoff


def test_bitbucket_pull_request_head_is_abbreviated(bbucket: FakeBitbucket, waits: Waits) -> None:
    from ci_track.commands._publish import same_commit

    head = bitbucket_forge(bbucket, waits).pull_request_head(7)
    assert head == HEAD[:12]
    assert same_commit(head, HEAD) and not same_commit(head, "d" * 40) and not same_commit("c0f", HEAD)


# --- the contracts ------------------------------------------------------------------------------


def test_the_gitlab_contract_rejects_what_gitlab_would(glab: FakeGitLab) -> None:
    import requests

    headers = {"Authorization": f"Bearer {fake_gitlab.DEFAULT_TOKEN}"}
    url = f"{glab.url}/api/v4/projects/42/statuses/{HEAD}"
    answer = requests.post(url, json={"state": "passed"}, headers=headers, timeout=10)  # not one of GitLab's states
    assert answer.status_code == 400
    assert any("'passed' is not one of" in v.message for v in glab.violations)
    glab.violations.clear()


def test_the_bitbucket_contract_rejects_what_bitbucket_would(bbucket: FakeBitbucket) -> None:
    import requests

    headers = {"Authorization": f"Bearer {fake_bitbucket.DEFAULT_TOKEN}"}
    url = f"{bbucket.url}/2.0/repositories/{REPO}/commit/{HEAD}/statuses/build"
    answer = requests.post(url, json={"key": "k", "state": "SUCCESSFUL"}, headers=headers, timeout=10)  # no url
    assert answer.status_code == 400
    assert answer.json()["type"] == "error"
    assert any("'url' is a required property" in v.message for v in bbucket.violations)
    bbucket.violations.clear()


@pytest.mark.parametrize("kind", FAULT_KINDS)
def test_every_gitlab_fault_is_answered_as_gitlab_does(glab: FakeGitLab, kind: str) -> None:
    import requests

    glab.fail(kind, operation="getApiV4ProjectsIdMergeRequestsNoteableIdNotes")
    url = f"{glab.url}/api/v4/projects/{PROJECT.replace('/', '%2F')}/merge_requests/7/notes"
    answer = requests.get(url, headers={"PRIVATE-TOKEN": fake_gitlab.DEFAULT_TOKEN}, timeout=10)
    assert answer.status_code >= 400
    if kind == "rate-limit":
        assert answer.text == "Retry later" and answer.headers["RateLimit-Remaining"] == "0"
        assert answer.headers["Retry-After"] == "1"
    else:
        assert set(answer.json()) <= {"message", "error"}
    glab.assert_no_violations()  # each fault's body is one the contract allows


@pytest.mark.parametrize("kind", FAULT_KINDS)
def test_every_bitbucket_fault_is_answered_as_bitbucket_does(bbucket: FakeBitbucket, kind: str) -> None:
    import requests

    bbucket.fail(kind, operation="listPullRequestComments")
    url = f"{bbucket.url}/2.0/repositories/{REPO}/pullrequests/7/comments"
    answer = requests.get(url, headers={"Authorization": f"Bearer {fake_bitbucket.DEFAULT_TOKEN}"}, timeout=10)
    assert answer.status_code >= 400 and answer.json()["type"] == "error"
    assert answer.headers["X-RateLimit-Limit"] == "1000"
    bbucket.assert_no_violations()


def test_gitlab_pagination_headers_agree_with_each_other(glab: FakeGitLab) -> None:
    import requests

    url = f"{glab.url}/api/v4/projects/42/merge_requests/7/notes"
    headers = {"PRIVATE-TOKEN": fake_gitlab.DEFAULT_TOKEN}
    first = requests.get(url, params={"per_page": 100, "sort": "asc"}, headers=headers, timeout=10)
    last = requests.get(url, params={"per_page": 100, "sort": "asc", "page": 2}, headers=headers, timeout=10)
    assert (first.headers["X-Total"], first.headers["X-Total-Pages"], first.headers["X-Next-Page"]) == ("150", "2", "2")
    assert last.headers["X-Next-Page"] == "" and last.headers["X-Prev-Page"] == "1"
    assert len(first.json()) == 100 and len(last.json()) == 50
    assert link_next(first.headers["Link"]) is not None and link_next(last.headers["Link"]) is None
    assert sum(n["system"] for n in first.json() + last.json()) == 15  # GitLab's own notes are interleaved


def test_gitlab_next_page_from_the_link_header_when_x_next_page_is_absent() -> None:
    from ci_track.forges.rest import Answer

    link = '<https://gl.example/api/v4/projects/1/merge_requests/7/notes?page=3&per_page=100>; rel="next"'
    first = "https://gl.example/api/v4/projects/1/merge_requests/7/notes"
    assert gitlab.next_page_url(Answer(200, {"link": link}, []), first, {}) == link[1:].split(">")[0]
    assert gitlab.next_page_url(Answer(200, {"x-next-page": "", "link": link}, []), first, {}) is None
    with_header = Answer(200, {"x-next-page": "2"}, [])
    assert gitlab.next_page_url(with_header, first, {"per_page": 100}) == f"{first}?per_page=100&page=2"


def test_a_wait_longer_than_allowed_is_not_waited_for(glab: FakeGitLab, waits: Waits) -> None:
    glab.fail("rate-limit", operation="postApiV4ProjectsIdStatusesSha", retry_after=3600)
    with pytest.raises(
        ForgeError, match=r"asks ci-track to wait 3600 s .*CI_TRACK_FORGE_MAX_WAIT=120 s: try again later or raise it"
    ):
        gitlab_forge(glab, waits).set_status(HEAD, key="exp", passed=True, description="ok", target_url=None)
    assert waits.slept == []
