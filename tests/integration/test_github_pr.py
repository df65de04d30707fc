"""The GitHub adapter against the stateful fake GitHub (validated against GitHub's OpenAPI description)."""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from github import Github

from ci_track.errors import ExitCode, GitHubError, UsageError
from ci_track.forges.github import (
    MAX_COMMENT_LENGTH,
    CommentOutcome,
    comment_marker,
    create_check_run,
    fit_comment_body,
    post_sticky_comment,
    set_commit_status,
)
from ci_track.forges.github_api import connect, rate_limit_wait
from ci_track.forges.interface import status_name
from ci_track.settings import ForgeHttpSettings, GitHubSettings
from tests.fakes.fake_github import BOT_LOGIN, DEFAULT_TOKEN, FakeGitHub, running_fake_github
from tests.fakes.rest_fake import serve_checked

REPO = "octo-org/ml-repo"
PR = 7
HEAD_SHA = "c0ffee" + "0" * 34
MARKER = "<!-- ci-track:churn-model -->"


@pytest.fixture
def fake() -> Iterator[FakeGitHub]:
    yield from serve_checked(running_fake_github(repository=REPO, pr_number=PR, head_sha=HEAD_SHA))


class Sleeps(list[float]):
    """Stands in for time.sleep: records the waits the retry policy asked for."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


def client(
    fake: FakeGitHub, sleeps: Sleeps, *, token: str = DEFAULT_TOKEN, prefix: str = "", **settings: Any
) -> Github:
    return connect(GitHubSettings(token=token, repository=REPO, api_url=fake.url + prefix, **settings), sleep=sleeps)


def report(text: str = "all metrics within tolerance") -> str:
    return f"{MARKER}\n## ci-track: churn-model\n\n{text}\n"


def post(gh: Github, body: str, **kwargs: Any) -> CommentOutcome:
    return post_sticky_comment(gh, REPO, PR, body, marker=MARKER, **kwargs)


def ours(fake: FakeGitHub) -> list[dict[str, Any]]:
    return [c for c in fake.comments_on(REPO, PR) if MARKER in c["body"]]


# -- the sticky comment --------------------------------------------------------------------------


def test_first_post_creates_one_comment_with_the_marker(fake: FakeGitHub, sleeps: Sleeps) -> None:
    outcome = post(client(fake, sleeps), report())

    assert outcome.action == "created"
    [comment] = ours(fake)
    assert comment["id"] == outcome.comment_id
    assert comment["body"] == report()
    assert comment["user"] == BOT_LOGIN
    assert outcome.html_url and outcome.html_url.endswith(f"#issuecomment-{comment['id']}")


def test_marker_is_added_when_the_body_lacks_it(fake: FakeGitHub, sleeps: Sleeps) -> None:
    post(client(fake, sleeps), "no marker here")
    [comment] = ours(fake)
    assert comment["body"].startswith(MARKER)


def test_second_post_updates_the_same_comment_in_place(fake: FakeGitHub, sleeps: Sleeps) -> None:
    gh = client(fake, sleeps)
    first = post(gh, report("accuracy 0.91"))
    fake.add_comment(REPO, PR, "a reviewer says hi", user="octocat")

    second = post(gh, report("accuracy 0.93"))

    assert second.action == "updated"
    assert second.comment_id == first.comment_id
    [comment] = ours(fake)
    assert comment["body"] == report("accuracy 0.93")
    assert len(fake.comments_on(REPO, PR)) == 2


def test_after_creating_only_recent_comments_are_read_again(fake: FakeGitHub, sleeps: Sleeps) -> None:
    for i in range(250):
        fake.add_comment(REPO, PR, f"human comment {i}", user="octocat", dump=False)

    post(client(fake, sleeps), report())

    listings = [r["query"] for r in fake.requests_for("issues/list-comments")]
    assert [q.get("page", "1") for q in listings] == ["1", "2", "3", "1"]
    assert "since" not in listings[0] and "since" in listings[-1]


def test_identical_body_is_not_written_again(fake: FakeGitHub, sleeps: Sleeps) -> None:
    gh = client(fake, sleeps)
    post(gh, report())
    fake.reset_requests()

    outcome = post(gh, report())

    assert outcome.action == "unchanged"
    assert [r["operation"] for r in fake.requests] == ["issues/list-comments"]


def test_marker_on_page_three_of_250_comments_is_found_and_updated(fake: FakeGitHub, sleeps: Sleeps) -> None:
    for i in range(220):
        fake.add_comment(REPO, PR, f"human comment {i}", user="octocat", dump=False)
    ours_id = fake.add_comment(REPO, PR, report("old"))
    for i in range(29):
        fake.add_comment(REPO, PR, f"later comment {i}", user="octocat", dump=False)
    assert len(fake.comments_on(REPO, PR)) == 250

    outcome = post(client(fake, sleeps), report("new"))

    assert (outcome.action, outcome.comment_id) == ("updated", ours_id)
    assert [c["body"] for c in ours(fake)] == [report("new")]
    pages = [r["query"].get("page", "1") for r in fake.requests_for("issues/list-comments")]
    assert pages == ["1", "2", "3"]


def test_duplicates_from_earlier_races_are_deleted_keeping_the_oldest(fake: FakeGitHub, sleeps: Sleeps) -> None:
    first = fake.add_comment(REPO, PR, report("one"))
    for i in range(150):
        fake.add_comment(REPO, PR, f"human comment {i}", user="octocat", dump=False)
    fake.add_comment(REPO, PR, report("two"))  # page 2: a leftover of an earlier race

    outcome = post(client(fake, sleeps), report("three"))

    assert (outcome.action, outcome.comment_id, outcome.deleted) == ("updated", first, 1)
    assert [(c["id"], c["body"]) for c in ours(fake)] == [(first, report("three"))]


def test_two_concurrent_posters_end_with_one_comment(fake: FakeGitHub, sleeps: Sleeps) -> None:
    # both have looked and found nothing before either creates: the race is forced, not hoped for
    fake.rendezvous("issues/create-comment", parties=2)
    outcomes: dict[str, CommentOutcome] = {}
    errors: list[Exception] = []

    def poster(name: str) -> None:
        try:
            outcomes[name] = post(client(fake, sleeps), report(f"from job {name}"))
        except Exception as exc:  # noqa: BLE001 - surfaced below; a thread cannot fail the test itself
            errors.append(exc)

    threads = [threading.Thread(target=poster, args=(name,)) for name in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert not errors
    assert len(fake.requests_for("issues/create-comment")) == 2
    [survivor] = ours(fake)
    assert survivor["body"] in (report("from job a"), report("from job b"))
    assert {o.comment_id for o in outcomes.values()} == {survivor["id"]}
    created_ids = sorted(r for r in (o.comment_id for o in outcomes.values()) if r is not None)
    assert survivor["id"] == created_ids[0]


@pytest.mark.parametrize("round_", range(5))
def test_unsynchronised_concurrent_posters_end_with_one_comment(fake: FakeGitHub, sleeps: Sleeps, round_: int) -> None:
    threads = [
        threading.Thread(target=post, args=(client(fake, sleeps), report(f"job {i} round {round_}"))) for i in range(3)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(ours(fake)) == 1


def test_new_mode_replaces_our_comment_with_a_fresh_one(fake: FakeGitHub, sleeps: Sleeps) -> None:
    gh = client(fake, sleeps)
    first = post(gh, report("one"))

    second = post(gh, report("two"), mode="new")

    assert second.action == "created"
    assert second.deleted == 1
    assert second.comment_id is not None and first.comment_id is not None
    assert second.comment_id > first.comment_id
    assert [c["body"] for c in ours(fake)] == [report("two")]


def test_delete_on_pass_removes_our_comment_when_the_gate_passes(fake: FakeGitHub, sleeps: Sleeps) -> None:
    gh = client(fake, sleeps)
    failing = post(gh, report("regression"), mode="delete-on-pass", passed=False)
    assert failing.action == "created"

    passing = post(gh, report("fixed"), mode="delete-on-pass", passed=True)

    assert (passing.action, passing.deleted) == ("deleted", 1)
    assert ours(fake) == []
    assert post(gh, report("fixed"), mode="delete-on-pass", passed=True).action == "absent"


def test_delete_on_pass_needs_the_gate_result(fake: FakeGitHub, sleeps: Sleeps) -> None:
    with pytest.raises(UsageError, match="delete-on-pass"):
        post(client(fake, sleeps), report(), mode="delete-on-pass")


def test_off_mode_sends_nothing(fake: FakeGitHub, sleeps: Sleeps) -> None:
    assert post(client(fake, sleeps), report(), mode="off").action == "skipped"
    assert fake.requests == []


def test_unknown_mode_is_a_usage_error(fake: FakeGitHub, sleeps: Sleeps) -> None:
    with pytest.raises(UsageError, match="update, new, delete-on-pass, off"):
        post(client(fake, sleeps), report(), mode="sticky")


def test_known_comment_id_is_updated_with_one_request(fake: FakeGitHub, sleeps: Sleeps) -> None:
    gh = client(fake, sleeps)
    first = post(gh, report("one"))
    fake.reset_requests()

    again = post(gh, report("two"), comment_id=first.comment_id)

    assert (again.action, again.comment_id) == ("updated", first.comment_id)
    assert [r["operation"] for r in fake.requests] == ["issues/update-comment"]


def test_stale_comment_id_falls_back_to_looking_for_the_marker(fake: FakeGitHub, sleeps: Sleeps) -> None:
    gh = client(fake, sleeps)
    first = post(gh, report("one"))
    assert first.comment_id is not None
    del fake.comments[first.comment_id]  # someone deleted it by hand

    again = post(gh, report("two"), comment_id=first.comment_id)

    assert again.action == "created"
    assert [c["body"] for c in ours(fake)] == [report("two")]


def test_over_long_body_is_cut_keeping_the_marker_and_pointing_to_the_full_report(
    fake: FakeGitHub, sleeps: Sleeps
) -> None:
    rows = "\n".join(f"| metric_{i} | 0.{i:05d} | 0.{i:05d} |" for i in range(4000))
    body = report(f"<details><summary>all metrics</summary>\n\n```\n{rows}\n```\n</details>")
    assert len(body) > MAX_COMMENT_LENGTH

    outcome = post(client(fake, sleeps), body)

    assert (outcome.action, outcome.truncated) == ("created", True)
    [comment] = ours(fake)
    assert len(comment["body"]) <= MAX_COMMENT_LENGTH
    assert comment["body"].startswith(MARKER)
    assert "report.md" in comment["body"] and "job summary" in comment["body"]
    assert comment["body"].count("```") % 2 == 0
    assert comment["body"].count("<details") == comment["body"].count("</details>")


def test_cut_keeps_a_marker_that_sat_beyond_the_limit() -> None:
    body = "x" * 70000 + "\n" + MARKER
    cut, truncated = fit_comment_body(body, MARKER)
    assert truncated
    assert MARKER in cut
    assert len(cut) <= MAX_COMMENT_LENGTH


def test_comment_markers_are_hidden_and_distinct() -> None:
    assert comment_marker("churn-model") == "<!-- ci-track:churn-model -->"
    assert comment_marker("a --> <script>") == "<!-- ci-track:a-script -->"
    assert comment_marker("model") not in comment_marker("model-v2")


def test_body_within_the_limit_is_left_alone() -> None:
    body = report("y" * 1000)
    assert fit_comment_body(body, MARKER) == (body, False)


# -- GitHub's refusals and failures ----------------------------------------------------------------


def test_fork_pr_read_only_token_gives_a_forbidden_outcome(fake: FakeGitHub, sleeps: Sleeps) -> None:
    fake.fail("forbidden", operation="issues/create-comment")

    outcome = post(client(fake, sleeps), report())

    assert outcome.forbidden
    assert "fork" in outcome.warning and "Resource not accessible by integration" in outcome.warning
    assert ours(fake) == []
    assert sleeps == []  # a permission refusal is not retried


def test_fork_pr_commit_status_is_forbidden_not_an_error(fake: FakeGitHub, sleeps: Sleeps) -> None:
    fake.fail("forbidden", operation="repos/create-commit-status")
    outcome = set_commit_status(
        client(fake, sleeps), REPO, HEAD_SHA, state="failure", context=status_name("churn-model")
    )
    assert outcome.forbidden
    assert fake.statuses == []


def test_other_403_refusals_are_errors_not_warnings(fake: FakeGitHub, sleeps: Sleeps) -> None:
    fake.fail("not-found", operation="issues/create-comment", status=403)  # 403 "Not Found"-like refusal

    with pytest.raises(GitHubError, match="permissions") as caught:
        post(client(fake, sleeps), report())
    assert caught.value.status == 403


def test_rate_limit_429_is_retried_after_retry_after(fake: FakeGitHub, sleeps: Sleeps) -> None:
    fake.fail("rate-limit", operation="issues/create-comment", retry_after=7)

    outcome = post(client(fake, sleeps), report())

    assert outcome.action == "created"
    assert sleeps == [7.0]
    assert [r["status"] for r in fake.requests_for("issues/create-comment")] == [429, 201]
    assert len(ours(fake)) == 1


def test_secondary_rate_limit_403_is_retried_after_retry_after(fake: FakeGitHub, sleeps: Sleeps) -> None:
    fake.fail("secondary-rate-limit", operation="issues/update-comment", retry_after=3)
    gh = client(fake, sleeps)
    post(gh, report("one"))

    outcome = post(gh, report("two"))

    assert outcome.action == "updated"
    assert sleeps == [3.0]
    assert [c["body"] for c in ours(fake)] == [report("two")]


def test_secondary_rate_limit_without_retry_after_waits_a_minute_then_doubles(fake: FakeGitHub, sleeps: Sleeps) -> None:
    fake.fail("secondary-rate-limit", operation="issues/list-comments", times=2)

    post(client(fake, sleeps), report())

    assert sleeps == [60.0, 120.0]


def test_primary_rate_limit_waits_until_the_reset(fake: FakeGitHub, sleeps: Sleeps) -> None:
    fake.fail("primary-rate-limit", operation="issues/list-comments", retry_after=30)

    post(client(fake, sleeps), report())

    [wait] = sleeps
    assert 25.0 <= wait <= 32.0  # reset is 30 s after the fake answered, +1 s of margin


def test_rate_limit_wait_follows_githubs_rules() -> None:
    now = 1_000_000.0
    assert rate_limit_wait({"Retry-After": "12"}, 1, now=now) == 12.0
    assert rate_limit_wait({"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(int(now) + 100)}, 1, now=now) == 101
    assert rate_limit_wait({"x-ratelimit-remaining": "3"}, 1, now=now) == 60.0
    assert rate_limit_wait({}, 3, now=now) == 240.0


def test_persistent_rate_limit_gives_up_after_the_attempts(fake: FakeGitHub, sleeps: Sleeps) -> None:
    fake.fail("rate-limit", operation="issues/list-comments", retry_after=1, times=10)

    with pytest.raises(GitHubError, match="rate limit") as caught:
        post(client(fake, sleeps, max_attempts=3), report())

    assert caught.value.status == 429
    assert caught.value.exit_code == ExitCode.SERVICE
    assert len(fake.requests_for("issues/list-comments")) == 3
    assert sleeps == [1.0, 1.0]


def test_a_wait_longer_than_the_maximum_fails_at_once(fake: FakeGitHub, sleeps: Sleeps) -> None:
    fake.fail("rate-limit", operation="issues/list-comments", retry_after=3600)

    with pytest.raises(GitHubError, match="CI_TRACK_FORGE_MAX_WAIT=300 s"):
        post(client(fake, sleeps, max_wait=300.0), report())

    assert sleeps == []


def test_server_error_is_retried_and_the_retry_announced(
    fake: FakeGitHub, sleeps: Sleeps, capsys: pytest.CaptureFixture[str]
) -> None:
    fake.fail("server-error", operation="issues/list-comments", status=502)

    assert post(client(fake, sleeps), report()).action == "created"
    assert sleeps == [1.0]
    notices = [line for line in capsys.readouterr().err.splitlines() if line.startswith("ci-track: retrying")]
    assert notices == [
        f"ci-track: retrying GitHub GET /repos/{REPO}/issues/{PR}/comments in 1.0 s (attempt 2 of 5): HTTP 502"
    ]


def test_bad_token_is_a_github_error_without_the_token(fake: FakeGitHub, sleeps: Sleeps) -> None:
    wrong = "ghp_WrongTokenThatMustNeverBePrinted000000000"

    with pytest.raises(GitHubError) as caught:
        post(client(fake, sleeps, token=wrong), report())

    assert caught.value.status == 401
    assert "token" in str(caught.value) and "GITHUB_TOKEN" in str(caught.value)
    assert wrong not in str(caught.value)


def test_missing_pull_request_is_a_404_github_error(fake: FakeGitHub, sleeps: Sleeps) -> None:
    with pytest.raises(GitHubError, match="PR number") as caught:
        post_sticky_comment(client(fake, sleeps), REPO, 999, report(), marker=MARKER)
    assert caught.value.status == 404
    assert "\n" not in str(caught.value)


def test_validation_failure_is_a_422_github_error(fake: FakeGitHub, sleeps: Sleeps) -> None:
    fake.fail("unprocessable", operation="issues/create-comment")

    with pytest.raises(GitHubError, match="422 Validation Failed: rejected by the fake") as caught:
        post(client(fake, sleeps), report())
    assert caught.value.status == 422


def test_unreachable_github_is_a_github_error(sleeps: Sleeps) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings = GitHubSettings(token=DEFAULT_TOKEN, repository=REPO, api_url=f"http://127.0.0.1:{port}", max_attempts=2)

    with pytest.raises(GitHubError, match="could not reach GitHub") as caught:
        post_sticky_comment(connect(settings, sleep=sleeps), REPO, PR, report(), marker=MARKER)
    assert DEFAULT_TOKEN not in str(caught.value)


def test_github_enterprise_api_v3_base_url(fake: FakeGitHub, sleeps: Sleeps) -> None:
    for i in range(130):
        fake.add_comment(REPO, PR, f"human comment {i}", user="octocat", dump=False)
    gh = client(fake, sleeps, prefix="/api/v3")
    post(gh, report("one"))
    outcome = post(gh, report("two"))
    set_commit_status(gh, REPO, HEAD_SHA, state="success", context=status_name("churn-model"))

    assert outcome.action == "updated"
    assert [c["body"] for c in ours(fake)] == [report("two")]
    assert fake.requests and all(r["path"].startswith("/api/v3/") for r in fake.requests)
    assert len(fake.requests_for("issues/list-comments")) >= 4  # pages followed under /api/v3


# -- commit status and check run ---------------------------------------------------------------------


def test_commit_status_is_set_on_the_pr_head_sha(fake: FakeGitHub, sleeps: Sleeps) -> None:
    gh = client(fake, sleeps)
    outcome = set_commit_status(
        gh,
        REPO,
        HEAD_SHA,
        state="failure",
        context=status_name("churn-model"),
        description="accuracy dropped by 0.031 (tolerance 0.01); " + "details " * 40,
        target_url="https://ci.example.com/runs/1",
    )

    assert outcome.action == "created"
    [status] = fake.statuses
    assert (status["sha"], status["state"], status["context"]) == (HEAD_SHA, "failure", "ci-track/churn-model")
    assert len(status["description"]) == 140
    assert status["target_url"] == "https://ci.example.com/runs/1"
    assert [r["operation"] for r in fake.requests] == ["repos/create-commit-status"]  # lazy objects: one request


def test_commit_status_rejects_unknown_states(fake: FakeGitHub, sleeps: Sleeps) -> None:
    with pytest.raises(UsageError, match="success, failure, error, pending"):
        set_commit_status(client(fake, sleeps), REPO, HEAD_SHA, state="passed", context="ci-track/x")


def test_check_run_carries_the_report_cut_to_the_limit(fake: FakeGitHub, sleeps: Sleeps) -> None:
    outcome = create_check_run(
        client(fake, sleeps),
        REPO,
        HEAD_SHA,
        name="ci-track / churn-model",
        conclusion="failure",
        title="1 regression",
        summary="| metric | base | head |\n" * 5000,
    )

    assert outcome.action == "created" and outcome.truncated
    [run] = fake.check_runs.values()
    assert (run["head_sha"], run["status"], run["conclusion"]) == (HEAD_SHA, "completed", "failure")
    assert len(run["output"]["summary"]) <= 65535
    assert "report.md" in run["output"]["summary"]


# -- settings and secrets -------------------------------------------------------------------------------


def test_settings_from_env() -> None:
    env = {"GITHUB_TOKEN": DEFAULT_TOKEN, "GITHUB_REPOSITORY": REPO, "CI_TRACK_GITHUB_MAX_WAIT": "5"}
    settings = GitHubSettings.from_env(env, pr_number=PR, head_sha=HEAD_SHA)
    assert settings.api_url == "https://api.github.com"
    assert (settings.repository, settings.pr_number, settings.head_sha) == (REPO, PR, HEAD_SHA)
    assert settings.max_wait == 5.0
    assert DEFAULT_TOKEN not in repr(settings)
    enterprise = GitHubSettings.from_env({**env, "GITHUB_API_URL": "https://ghe.example.com/api/v3/"})
    assert enterprise.api_url == "https://ghe.example.com/api/v3"


def test_the_forge_knobs_have_one_name_for_every_forge_and_the_github_names_are_still_read() -> None:
    env = {"GITHUB_TOKEN": DEFAULT_TOKEN, "GITHUB_REPOSITORY": REPO}
    old = {"CI_TRACK_GITHUB_TIMEOUT": "7", "CI_TRACK_GITHUB_ATTEMPTS": "2", "CI_TRACK_GITHUB_MAX_WAIT": "5"}
    new = {"CI_TRACK_FORGE_TIMEOUT": "9", "CI_TRACK_FORGE_ATTEMPTS": "3", "CI_TRACK_FORGE_MAX_WAIT": "8"}
    knobs = [(s.timeout, s.max_attempts, s.max_wait) for s in (ForgeHttpSettings.from_env(e) for e in (old, new))]
    assert knobs == [(7.0, 2, 5.0), (9.0, 3, 8.0)]
    assert ForgeHttpSettings.from_env({**old, **new}) == ForgeHttpSettings.from_env(new)  # the forge name wins
    assert ForgeHttpSettings.from_env({**new, "CI_TRACK_FORGE_MAX_WAIT": " "}).max_wait == 600.0  # blank = unset
    github = GitHubSettings.from_env({**env, **new})
    assert (github.timeout, github.max_attempts, github.max_wait) == (9, 3, 8.0)
    with pytest.raises(UsageError, match="CI_TRACK_FORGE_ATTEMPTS must be a positive number, got 'many'"):
        ForgeHttpSettings.from_env({**old, "CI_TRACK_FORGE_ATTEMPTS": "many"})
    with pytest.raises(UsageError, match="CI_TRACK_GITHUB_ATTEMPTS must be a positive number, got '-1'"):
        ForgeHttpSettings.from_env({"CI_TRACK_GITHUB_ATTEMPTS": "-1"})  # the error names the variable that was set


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"GITHUB_REPOSITORY": REPO}, "no GitHub token"),
        ({"GITHUB_TOKEN": DEFAULT_TOKEN}, "no GitHub repository"),
        ({"GITHUB_TOKEN": DEFAULT_TOKEN, "GITHUB_REPOSITORY": "just-a-name"}, "owner/name"),
        ({"GITHUB_TOKEN": DEFAULT_TOKEN, "GITHUB_REPOSITORY": REPO, "CI_TRACK_GITHUB_MAX_WAIT": "soon"}, "number"),
    ],
)
def test_bad_settings_are_usage_errors(env: dict[str, str], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        GitHubSettings.from_env(env)


def test_token_never_appears_in_errors_or_logs(
    fake: FakeGitHub, sleeps: Sleeps, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", DEFAULT_TOKEN)
    caplog.set_level(logging.DEBUG)
    for name in ("github", "github.Requester"):  # PyGithub logs every request with its headers at DEBUG
        caplog.set_level(logging.DEBUG, logger=name)
    gh = client(fake, sleeps)
    messages: list[str] = []
    post(gh, report())
    for kind, operation in [
        ("not-found", "issues/list-comments"),
        ("unprocessable", "issues/update-comment"),
        ("server-error", None),
        ("forbidden", "issues/update-comment"),
    ]:
        fake.fail(kind, operation=operation, times=10)
        try:
            messages.append(post(gh, report(kind)).warning)
        except GitHubError as exc:
            messages += [str(exc), repr(exc)]
        fake.faults.clear()
    fake.fail("rate-limit", operation="repos/create-commit-status", retry_after=1)
    set_commit_status(gh, REPO, HEAD_SHA, state="success", context="ci-track/x")

    assert len(messages) >= 7
    text = "\n".join([*messages, caplog.text, *(r.getMessage() for r in caplog.records)])
    assert DEFAULT_TOKEN not in text
    assert "HTTP 404" in text and "HTTP 422" in text  # the messages were really produced
    assert "Authorization" in caplog.text and "/issues/7/comments" in caplog.text  # and the request logs


# -- efficiency -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("existing", "to_create", "to_update"), [(0, 3, 2), (100, 3, 3), (1000, 12, 12)])
def test_requests_per_update(fake: FakeGitHub, sleeps: Sleeps, existing: int, to_create: int, to_update: int) -> None:
    """An update reads every page (100 a page) and PATCHes once; with a known id it is one PATCH.

    Creating reads every page, POSTs, and re-reads only the comments since the scan began.
    """
    gh = client(fake, sleeps)
    for i in range(existing):
        fake.add_comment(REPO, PR, f"human comment {i}", user="octocat", dump=False)
    first = post(gh, report("one"))
    creation = len(fake.requests)
    fake.reset_requests()

    post(gh, report("two"))
    by_marker = len(fake.requests)
    fake.reset_requests()
    post(gh, report("three"), comment_id=first.comment_id)
    by_id = len(fake.requests)

    print(f"\n{existing} other comments: create {creation}, update by marker {by_marker}, update by id {by_id}")
    assert (creation, by_marker, by_id) == (to_create, to_update, 1)
