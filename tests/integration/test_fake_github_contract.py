"""The fake GitHub keeps GitHub's contract: its checker can fail, and everything the fake says passes it."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.fakes import fake_github, openapi_contract
from tests.fakes.fake_github import DEFAULT_TOKEN, FAULT_KINDS, FakeGitHub, running_fake_github
from tests.fakes.openapi_contract import KNOWN_SPEC_FAULTS, OpenApiContract
from tests.fakes.rest_fake import serve_checked

REPO = "octo-org/ml-repo"
PR = 7


@pytest.fixture(scope="module")
def contract() -> OpenApiContract:
    return OpenApiContract()


@pytest.fixture
def fake(contract: OpenApiContract) -> Iterator[FakeGitHub]:
    yield from serve_checked(running_fake_github(repository=REPO, pr_number=PR, contract=contract))


@pytest.fixture
def api(fake: FakeGitHub) -> requests.Session:
    session = requests.Session()
    session.headers["Authorization"] = f"token {DEFAULT_TOKEN}"
    return session


def repo_url(fake: FakeGitHub, prefix: str = "") -> str:
    return f"{fake.url}{prefix}/repos/{REPO}"


# -- the checker can fail ------------------------------------------------------------------------


def test_validator_rejects_a_bad_response_body(contract: OpenApiContract) -> None:
    op, _ = contract.match("GET", f"/repos/{REPO}/issues/{PR}/comments") or pytest.fail("no match")
    good = json.dumps([]).encode()
    missing_fields = json.dumps([{"id": 1, "body": "hi"}]).encode()
    wrong_type = json.dumps({"id": 1}).encode()

    assert contract.check_response(op, 200, {}, good) == []
    assert any("'user' is a required property" in p for p in contract.check_response(op, 200, {}, missing_fields))
    assert any("is not of type 'array'" in p for p in contract.check_response(op, 200, {}, wrong_type))
    assert contract.check_response(op, 201, {}, good) == [
        "status 201 is not a declared response of issues/list-comments"
    ]
    assert contract.check_response(op, 404, {}, b'{"message": 404}')  # error bodies have GitHub's shape too


def test_validator_rejects_a_bad_request(contract: OpenApiContract) -> None:
    op, params = contract.match("POST", f"/repos/{REPO}/issues/{PR}/comments") or pytest.fail("no match")
    json_type = "application/json"

    assert contract.check_request(op, params, {}, json_type, b'{"body": "hi"}') == []
    assert contract.check_request(op, params, {}, json_type, b'{"text": "hi"}')
    assert contract.check_request(op, params, {}, json_type, b'{"body": 42}')
    assert contract.check_request(op, params, {}, json_type, b"")  # the body is required
    assert contract.check_request(op, params, {}, "text/plain", b'{"body": "hi"}')
    assert contract.check_request(op, params, {"per_page": ["100"]}, json_type, b'{"body": "hi"}')
    listing, list_params = contract.match("GET", f"/repos/{REPO}/issues/{PR}/comments") or pytest.fail()
    assert contract.check_request(listing, list_params, {"per_page": ["100"], "page": ["2"]}, "", b"") == []
    assert contract.check_request(listing, list_params, {"per_page": ["lots"]}, "", b"")
    assert contract.check_request(listing, {**list_params, "issue_number": "seven"}, {}, "", b"")
    status, status_params = contract.match("POST", f"/repos/{REPO}/statuses/abc") or pytest.fail()
    assert contract.check_request(status, status_params, {}, json_type, b'{"state": "passed"}')


def test_the_fake_records_violations_of_its_own_responses(
    contract: OpenApiContract, monkeypatch: pytest.MonkeyPatch
) -> None:
    with running_fake_github(repository=REPO, pr_number=PR, comments=2, contract=contract) as broken:
        original = broken._comment_object

        def without_user(comment: dict[str, Any], base_url: str) -> dict[str, Any]:
            data = original(comment, base_url)
            del data["user"]
            return data

        monkeypatch.setattr(broken, "_comment_object", without_user)
        headers = {"Authorization": f"token {DEFAULT_TOKEN}"}
        assert requests.get(f"{repo_url(broken)}/issues/{PR}/comments", headers=headers, timeout=10).ok

        assert len(broken.violations) == 2  # one per comment on the page
        assert all(v.direction == "response" for v in broken.violations)
        assert all("'user' is a required property" in v.message for v in broken.violations)
        with pytest.raises(AssertionError, match="contract violations"):
            broken.assert_no_violations()


def test_the_fake_records_bad_requests_and_answers_them_like_github(fake: FakeGitHub, api: requests.Session) -> None:
    missing_body = api.post(f"{repo_url(fake)}/issues/{PR}/comments", json={"text": "hi"})
    outside_the_subset = api.get(f"{repo_url(fake)}/issues/{PR}")

    assert missing_body.status_code == 422
    assert outside_the_subset.status_code == 404
    assert [(v.direction, v.operation) for v in fake.violations] == [
        ("request", "issues/create-comment"),
        ("request", None),
    ]
    fake.violations.clear()  # seen and asserted: the fixture's own check would fail the test otherwise


# -- everything the fake says passes the checker ---------------------------------------------------


def test_every_operation_and_failure_of_the_fake_validates(fake: FakeGitHub, api: requests.Session) -> None:
    base = repo_url(fake)
    pull = f"{base}/pulls/{PR}"
    sha = "c0ffee" + "0" * 34
    fake.add_pull(REPO, 8, head_repository="someone/fork-of-ml-repo", comments=3)
    answers = [
        api.get(pull),
        api.get(f"{base}/pulls/8"),
        api.get(f"{base}/pulls/404"),
        api.get(f"{base}/issues/8/comments?per_page=2&page=2"),
        api.get(f"{base}/issues/404/comments"),
        api.post(f"{base}/issues/{PR}/comments", json={"body": "first"}),
        api.post(f"{base}/issues/{PR}/comments", json={"body": "x" * 65537}),
        api.post(f"{base}/statuses/{sha}", json={"state": "pending", "context": "ci-track/a"}),
        api.post(f"{base}/statuses/{sha}", json={"state": "success", "context": "ci-track/a", "description": "ok"}),
        api.post(f"{base}/statuses/{sha}", json={"state": "error", "description": "d" * 141}),
        api.post(f"{base}/check-runs", json={"name": "ci-track", "head_sha": sha, "status": "in_progress"}),
        api.post(
            f"{base}/check-runs",
            json={
                "name": "ci-track",
                "head_sha": sha,
                "conclusion": "failure",
                "output": {"title": "t", "summary": "s"},
            },
        ),
        requests.get(pull, timeout=10),
        requests.get(pull, headers={"Authorization": "token wrong"}, timeout=10),
        requests.get(pull, headers={"Authorization": f"Bearer {DEFAULT_TOKEN}"}, timeout=10),
    ]
    comment_id = answers[5].json()["id"]
    answers += [
        api.patch(f"{base}/issues/comments/{comment_id}", json={"body": "second"}),
        api.patch(f"{base}/issues/comments/{comment_id}", json={"body": "y" * 65537}),
        api.delete(f"{base}/issues/comments/{comment_id}"),
        api.delete(f"{base}/issues/comments/{comment_id}"),
    ]
    for kind in FAULT_KINDS:
        fake.fail(kind, retry_after=2)
        answers.append(api.post(f"{base}/issues/{PR}/comments", json={"body": "faulty"}))
    fake.fail("server-error", status=503)
    answers.append(api.get(pull))

    assert [a.status_code for a in answers] == [
        *(200, 200, 404, 200, 404, 201, 422, 201, 201, 422, 201, 201, 401, 401, 200),
        *(200, 422, 204, 404),
        *(403, 404, 422, 429, 403, 403, 500, 503),
    ]
    assert {r["operation"] for r in fake.requests} == {op.operation_id for op in fake.contract.operations}
    assert fake.violations == []
    assert [s["state"] for s in fake.statuses] == ["pending", "success"]  # the 141-character one was refused
    assert answers[12].json()["message"] == "Requires authentication"
    assert answers[13].json()["message"] == "Bad credentials"
    assert answers[6].json()["errors"][0]["message"] == "body is too long (maximum is 65536 characters)"
    assert answers[1].json()["head"]["repo"]["full_name"] == "someone/fork-of-ml-repo"
    assert answers[1].json()["head"]["repo"]["fork"] is True
    assert answers[10].json()["conclusion"] is None  # nullable, though not in GitHub's enum (known fault)
    assert (answers[11].json()["status"], answers[11].json()["conclusion"]) == ("completed", "failure")


def test_every_response_carries_rate_limit_headers(fake: FakeGitHub, api: requests.Session) -> None:
    fake.fail("forbidden")
    pull = f"{repo_url(fake)}/pulls/{PR}"
    answers = [api.get(pull), api.get(pull), requests.get(pull, timeout=10)]
    for answer in answers:
        for name in ("limit", "remaining", "used", "reset"):
            assert answer.headers[f"x-ratelimit-{name}"].isdigit()
        assert answer.headers["x-ratelimit-resource"] == "core"
    remaining = [int(a.headers["x-ratelimit-remaining"]) for a in answers]
    assert remaining == sorted(remaining, reverse=True) and remaining[0] > remaining[-1]


def test_primary_rate_limit_fault_reports_no_remaining_requests(fake: FakeGitHub, api: requests.Session) -> None:
    fake.fail("primary-rate-limit", retry_after=30)
    answer = api.get(f"{repo_url(fake)}/pulls/{PR}")
    assert answer.status_code == 403
    assert answer.headers["x-ratelimit-remaining"] == "0"
    assert 0 < int(answer.headers["x-ratelimit-reset"]) - time.time() <= 31
    assert answer.json()["message"].startswith("API rate limit exceeded")


def test_faults_count_down_and_can_target_one_operation(fake: FakeGitHub, api: requests.Session) -> None:
    fake.fail("server-error", operation="issues/list-comments", times=2)
    statuses = [api.get(f"{repo_url(fake)}/pulls/{PR}").status_code]
    statuses += [api.get(f"{repo_url(fake)}/issues/{PR}/comments").status_code for _ in range(3)]
    assert statuses == [200, 500, 500, 200]


@pytest.mark.parametrize("prefix", ["", "/api/v3"])
def test_pagination_follows_github(fake: FakeGitHub, api: requests.Session, prefix: str) -> None:
    for i in range(250):
        fake.add_comment(REPO, PR, f"comment {i}", user="octocat", dump=False)
    url = f"{repo_url(fake, prefix)}/issues/{PR}/comments"

    default = api.get(url)
    capped = api.get(url, params={"per_page": 500})
    middle = api.get(url, params={"per_page": 100, "page": 2})
    beyond = api.get(url, params={"per_page": 100, "page": 9})

    assert len(default.json()) == 30
    assert default.links["next"]["url"] == f"{url}?page=2"
    assert default.links["last"]["url"] == f"{url}?page=9"
    assert "prev" not in default.links
    assert len(capped.json()) == 100
    assert [c["body"] for c in middle.json()][:1] == ["comment 100"]
    assert set(middle.links) == {"prev", "next", "last", "first"}
    assert middle.links["next"]["url"] == f"{url}?per_page=100&page=3"
    assert middle.links["first"]["url"] == f"{url}?per_page=100&page=1"
    assert beyond.json() == [] and "next" not in beyond.links
    ids = [c["id"] for page in range(1, 4) for c in api.get(url, params={"per_page": 100, "page": page}).json()]
    assert ids == sorted(ids) and len(set(ids)) == 250  # oldest first, nothing lost or repeated
    assert all(c["url"].startswith(f"{fake.url}{prefix}/repos/") for c in middle.json())


# -- GitHub's own description ------------------------------------------------------------------------


def test_the_descriptions_examples_fail_only_on_the_known_faults(contract: OpenApiContract) -> None:
    example_faults = [f for f in KNOWN_SPEC_FAULTS if f.applies_to == "example"]
    unexplained = []
    explained: set[str] = set()
    for operation, status, example, error in contract.example_violations():
        matching = [f.name for f in example_faults if f.matches(operation, status, error)]
        explained.update(matching)
        if not matching:
            unexplained.append((operation, status, example, error.message))

    assert unexplained == []
    assert explained == {f.name for f in example_faults}  # each tolerance is still needed


def test_known_schema_faults_are_the_readmes(contract: OpenApiContract) -> None:
    readme = (contract.spec_path.parent / "README.md").read_text(encoding="utf-8")
    listed = readme.split("## Known faults in GitHub's own description")[1].split("##")[0]
    bullets = [line for line in listed.splitlines() if line.startswith("- ")]
    assert len(bullets) == len(KNOWN_SPEC_FAULTS)
    in_progress = contract.spec["components"]["examples"]["check-run-example-of-in-progress-conclusion"]["value"]
    op, _ = contract.match("POST", f"/repos/{REPO}/check-runs") or pytest.fail()
    assert contract.check_response(op, 201, {}, json.dumps(in_progress).encode()) == []


def test_spec_is_vendored_inside_the_repository(contract: OpenApiContract) -> None:
    repo = Path(fake_github.__file__).resolve().parents[2]
    assert contract.spec_path.resolve().is_relative_to(repo)
    assert contract.spec["info"]["version"] == "1.1.4"


def test_spec_is_found_through_the_environment_when_set(
    contract: OpenApiContract, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(openapi_contract.SPEC_ENV, str(contract.spec_path))
    assert openapi_contract.locate_spec() == contract.spec_path
    monkeypatch.setenv(openapi_contract.SPEC_ENV, str(tmp_path / "missing.json"))
    with pytest.raises(FileNotFoundError, match=openapi_contract.SPEC_ENV):
        openapi_contract.locate_spec()


# -- as a separate process ---------------------------------------------------------------------------------


FORK = "issues/create-comment=forbidden*1"


def test_standalone_process_serves_and_dumps_its_state(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    script = Path(fake_github.__file__)
    process = subprocess.Popen(
        [sys.executable, str(script), "--port", "0", "--state", str(state), "--comments", "3", "--fault", FORK],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        url = json.loads(process.stdout.readline())["url"]
        headers = {"Authorization": f"Bearer {DEFAULT_TOKEN}"}
        comments = f"{url}/repos/{REPO}/issues/{PR}/comments"
        refused = requests.post(comments, json={"body": "from a fork"}, headers=headers, timeout=10)
        created = requests.post(comments, json={"body": "hello"}, headers=headers, timeout=10)
        remote = requests.get(f"{url}/_fake/state", timeout=10).json()
    finally:
        process.terminate()
        process.wait(timeout=10)

    assert (refused.status_code, created.status_code) == (403, 201)
    dumped = json.loads(state.read_text(encoding="utf-8"))
    assert [c["body"] for c in dumped["comments"]][-1] == "hello"
    assert len(dumped["comments"]) == 4
    assert [r["status"] for r in dumped["requests"]] == [403, 201]
    assert dumped["violations"] == [] and remote["violations"] == []
    assert DEFAULT_TOKEN not in state.read_text(encoding="utf-8")
    assert process.returncode == 0
