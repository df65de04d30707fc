"""Hostile input never escapes: untrusted strings render as inert text wherever ci-track writes markdown.

Branch names, PR titles, param values, metric and run names come from whoever opened the pull
request. Each hostile string below is put in each position of a document ci-track renders and the
result is rendered with cmarkgfm (GitHub's own GFM renderer, raw HTML allowed so that nothing is
hidden by the renderer's safe mode). "Inert" is checked three ways:

1. structure: the HTML has exactly the same elements and attributes as with a benign value in the
   same place (no link, image, heading, list, table cell, code, emphasis or HTML of the author's);
2. text: the visible text holds the hostile string itself (line breaks shown as spaces, control and
   bidi characters as U+FFFD), so nothing was swallowed into a comment or reordered;
3. GitHub's processing after GFM: no @mention, no #123 reference and no $math$ would be made.
"""

from __future__ import annotations

import json
import re
import sys
import unicodedata
import uuid
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path

import cmarkgfm
import pytest
from cmarkgfm.cmark import Options

from ci_track.ci.context import CIContext
from ci_track.gate.comparison import compare
from ci_track.gate.config import parse_config
from ci_track.report.markdown import render_markdown
from ci_track.settings import TrackingSettings
from ci_track.tracking.client import MlflowClient
from ci_track.tracking.runs import Run
from ci_track.tracking.tags import note_content
from tests.cli_helpers import base_env, ci_track, git, init_repo
from tests.fakes.fake_github import running_fake_github
from tests.mlflow_server import MlflowServer
from tests.reliability_figures import record
from tests.reliability_scenarios import PR_NUMBER, REPOSITORY, github_pr_env, make_run

HOSTILE = {
    "emphasis-and-heading": "**bold** _it_ ~~gone~~ # not a heading",
    "html-img": '<img src=x onerror="alert(1)">',
    "html-script": "<script>alert(document.cookie)</script>",
    "html-comment-open": "<!-- the rest of the report disappears",
    "forged-marker": "--> <!-- ci-track:report:acme -->",
    "backticks": "`code` and ``` a fence",
    "mentions": "@octocat and @acme/security-team please look",
    "javascript-link": "[click me](javascript:alert(1))",
    "javascript-bare": "javascript:alert(1)",
    "autolink": "see https://evil.example/phish and www.evil.example",
    "angle-autolink": "<https://evil.example/x>",
    "image": "![tracker](https://evil.example/pixel.png)",
    "table-pipes": "a | b | c",
    "newlines": "line one\n\n# Injected heading\n\n- injected item\n| x | y |",
    "bidi-rlo": "safe\u202etxt.exe\u202c",
    "bidi-isolates": "\u2067admin\u2069 \u2066user\u2069",
    "issue-refs": "fixes #1 and acme/wine#2",
    "entities": "&lt;b&gt;not bold&lt;/b&gt; &amp;",
    "math": "$x^2$ and $$\\int$$",
    "ordered-list": "1. first",
    "backslashes": "\\*not\\* \\\\ escaped",
    "footnote-and-ref": "[^1] [ref]: https://evil.example",
    "control-chars": "bell\x07 and escape\x1b[31m red",
}

BIDI = set("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c")
ZERO_WIDTH_SPACE = "\u200b"
GFM_OPTIONS = Options.CMARK_OPT_UNSAFE  # raw HTML passes through, so any that survives is seen


def render(markdown: str) -> str:
    return cmarkgfm.github_flavored_markdown_to_html(markdown, options=GFM_OPTIONS)


class _Html(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, tuple[tuple[str, str], ...]]] = []
        self.text: list[str] = []
        self.comments: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, tuple(sorted((k, _attr_shape(k, v)) for k, v in attrs))))

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def handle_comment(self, data: str) -> None:
        self.comments.append(data)


def _attr_shape(name: str, value: str | None) -> str:
    """Attributes are compared by kind: a link's scheme and host matter, not the rest of its URL."""
    if name in ("href", "src") and value:
        match = re.match(r"^([a-zA-Z][\w+.-]*):(//[^/]*)?", value)
        return match.group(0) if match else "relative"
    return "" if name in ("title", "alt") else (value or "")


def parse(html: str) -> _Html:
    parser = _Html()
    parser.feed(html)
    parser.close()
    return parser


def expected_text(hostile: str) -> str:
    """What a reader must see: the string itself, on one line, controls and bidi made visible."""
    shown = []
    for char in hostile:
        if char in "\r\n\t\v\f":
            shown.append(" ")
        elif char in BIDI or unicodedata.category(char) == "Cc":
            shown.append("\ufffd")
        else:
            shown.append(char)
    return " ".join("".join(shown).split())


def visible(parsed: _Html) -> str:
    return " ".join("".join(parsed.text).replace(ZERO_WIDTH_SPACE, "").split())


def assert_inert(render_with: Callable[[str], str], hostile: str) -> None:
    """`render_with(value)` is the markdown of a document with `value` in one untrusted position."""
    benign = parse(render(render_with("benign-value")))
    markdown = render_with(hostile)
    rendered = parse(render(markdown))
    assert rendered.elements == benign.elements, (hostile, markdown)
    assert comment_shapes(rendered) == comment_shapes(benign), (hostile, markdown)
    assert expected_text(hostile) in visible(rendered), (hostile, markdown)
    raw_text = "".join(rendered.text)
    assert not (set(raw_text) & BIDI), markdown
    assert github_references(raw_text) == github_references("".join(benign.text)), markdown
    # GitHub renders $math$ from the markdown source after GFM (cmarkgfm does not): no bare `$` may pass.
    assert math_delimiters(markdown) == math_delimiters(render_with("benign-value")), markdown


def math_delimiters(markdown: str) -> int:
    return len(re.findall(r"(?<!\\)\$", markdown))


def comment_shapes(parsed: _Html) -> list[str]:
    """HTML comments with ci-track's marker slug (derived from the experiment name) made generic."""
    return [re.sub(r"^ ci-track:[A-Za-z0-9._/-]+ $", " ci-track:SLUG ", text) for text in parsed.comments]


def github_references(text: str) -> list[str]:
    """What GitHub would turn into @mentions and #123 references (a zero-width space after the sign stops it)."""
    return re.findall(r"(?<![\w`])@[A-Za-z0-9][\w/-]*", text) + re.findall(r"(?<![\w&])#[0-9]+", text)


def pr_context(*, title: str = "Tune alpha", branch: str = "feature/alpha", base: str = "main") -> CIContext:
    return CIContext(
        provider="github-actions",
        event="pull_request",
        head_sha="a" * 40,
        branch=branch,
        base_branch=base,
        pr_number=42,
        pr_title=title,
        repository="acme/wine",
        repo_url="https://github.com/acme/wine",
        build_url="https://github.com/acme/wine/actions/runs/7/attempts/1",
    )


NOTE_POSITIONS: dict[str, Callable[[str], CIContext]] = {
    "pr-title": lambda value: pr_context(title=value),
    "branch": lambda value: pr_context(branch=value),
    "base-branch": lambda value: pr_context(base=value),
}


@pytest.mark.parametrize("position", sorted(NOTE_POSITIONS))
@pytest.mark.parametrize("hostile", list(HOSTILE.values()), ids=list(HOSTILE))
def test_run_description_renders_hostile_text_inert(position: str, hostile: str) -> None:
    """MLflow renders `mlflow.note.content` as markdown in its UI."""
    assert_inert(lambda value: note_content(NOTE_POSITIONS[position](value)), hostile)


def test_hostile_pr_reaches_the_run_description_inert(
    mlflow_server: MlflowServer, experiment_name: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """End to end: a PR payload with a hostile title and branch, through `ci-track run`, read back from MLflow."""
    repo = tmp_path / "repo"
    head = init_repo(repo, {"train.py": "print('ok')\n"})
    title = HOSTILE["html-comment-open"] + " " + HOSTILE["mentions"] + " " + HOSTILE["bidi-rlo"]
    branch = "feat/<img src=x>`@octocat`\u202e"
    event = {
        "number": 42,
        "pull_request": {
            "number": 42,
            "title": title,
            "head": {"sha": head, "ref": branch, "repo": {"full_name": "acme/wine"}},
            "base": {"sha": head, "ref": "main", "repo": {"full_name": "acme/wine"}},
        },
    }
    (tmp_path / "event.json").write_text(json.dumps(event))
    env = base_env(
        MLFLOW_TRACKING_URI=mlflow_server.url,
        GITHUB_ACTIONS="true",
        GITHUB_EVENT_NAME="pull_request",
        GITHUB_EVENT_PATH=str(tmp_path / "event.json"),
        GITHUB_REPOSITORY="acme/wine",
        GITHUB_RUN_ID="7",
    )
    result = ci_track("run", "--experiment", experiment_name, "--", sys.executable, "train.py", env=env, cwd=repo)
    assert result.code == 0, result.stderr
    with MlflowClient(TrackingSettings(uri=mlflow_server.url)) as client:
        found = client.get_experiment_by_name(experiment_name)
        assert found is not None
        (run,) = client.search_runs([found.experiment_id])[0]
    assert run.tags["mlflow.source.git.branch"] == branch  # stored as it is: MLflow escapes plain tags
    note = run.tags["mlflow.note.content"]
    benign = note_content(pr_context(title="benign-value", branch="benign-value"))
    assert parse(render(note)).elements == parse(render(benign)).elements, note
    assert expected_text(title) in visible(parse(render(note)))
    assert git(repo, "status", "--porcelain") == ""  # nothing the payload said was executed in the checkout
    record(request, "hostile_strings", len(HOSTILE) * len(NOTE_POSITIONS) + 2)


# ---- the PR comment -------------------------------------------------------------------------------


def _run(run_id: str, *, branch: str, run_name: str, metrics: dict[str, float], params: dict[str, str]) -> Run:
    return Run(
        run_id=run_id,
        experiment_id="4",
        status="FINISHED",
        run_name=run_name,
        metrics=metrics,
        params=params,
        tags={
            "mlflow.source.git.commit": "3f9a1c2d4e5b6a7980c1d2e3f4a5b6c7d8e9f012",
            "mlflow.source.git.branch": branch,
        },
    )


def report_with(position: str, value: str) -> str:
    """The markdown report with `value` in one untrusted position and benign text everywhere else."""
    gated = value if position == "gated-metric" else "rmse"
    other = value if position == "other-metric" else "epochs"
    param = value if position == "param-name" else "alpha"
    candidate = _run(
        "5d1f3b7a9c0e4f2a8b6d1c3e5f7a9b0c",
        branch=value if position == "candidate-branch" else "feature/x",
        run_name=value if position == "candidate-run-name" else "pr-7@3f9a1c2",
        metrics={gated: 0.9, other: 3.0},
        params={param: value if position == "candidate-param-value" else "0.7"},
    )
    champion = _run(
        "8c2e5a0f7b3d4c1e9a6f0b2d4e6a8c0e",
        branch=value if position == "champion-branch" else "main",
        run_name=value if position == "champion-run-name" else "main@a1b2c3d",
        metrics={gated: 0.5, other: 2.0},
        params={param: value if position == "champion-param-value" else "0.5"},
    )
    rules = parse_config(f"metrics:\n  {json.dumps(gated)}: {{goal: minimize, max_regression: '5%'}}\n")
    comparison = compare(
        candidate,
        champion,
        rules,
        champion_source=value if position == "champion-source" else "latest FINISHED run on main",
    )
    return render_markdown(
        comparison,
        experiment=value if position == "experiment" else "wine",
        tracking_uri="http://127.0.0.1:5000",
    )


REPORT_POSITIONS = (
    "gated-metric",
    "other-metric",
    "param-name",
    "candidate-param-value",
    "champion-param-value",
    "candidate-branch",
    "champion-branch",
    "candidate-run-name",
    "champion-run-name",
    "champion-source",
    "experiment",
)


@pytest.mark.parametrize("position", REPORT_POSITIONS)
@pytest.mark.parametrize("hostile", list(HOSTILE.values()), ids=list(HOSTILE))
def test_pr_comment_renders_hostile_text_inert(position: str, hostile: str) -> None:
    assert_inert(lambda value: report_with(position, value), hostile)


# -- the charts (report/charts.py): hostile metric names, SHAs from run tags, the report key -----------------


def _meta_shape(comment: str) -> str:
    return re.sub(r"^ ci-track-meta:[A-Za-z0-9_=-]+ $", " ci-track-meta:BASE64 ", comment)


def report_with_charts(position: str, value: str) -> str:
    """The report with its charts, `value` as the gated metric, a history run's SHA tag, or the report key."""
    from ci_track.commands._charts import trends
    from ci_track.report.charts import ChartData, build_curve

    gated = value if position == "chart-metric" else "rmse"
    candidate = _run("5d1f3b7a9c0e4f2a8b6d1c3e5f7a9b0c", branch="f", run_name="c", metrics={gated: 0.9}, params={})
    champion = _run("8c2e5a0f7b3d4c1e9a6f0b2d4e6a8c0e", branch="main", run_name="m", metrics={gated: 0.5}, params={})
    champion = Run(**{**champion.__dict__, "tags": {**champion.tags, "mlflow.source.git.commit": "a1" * 20}})
    history = tuple(
        Run(
            run_id=f"h{index}",
            experiment_id="4",
            status="FINISHED",
            start_time=index,
            metrics={gated: 0.5 + index / 10},
            tags={"mlflow.source.git.commit": value if position == "history-sha" and index == 1 else f"{index}" * 40},
        )
        for index in range(1, 4)
    )
    rules = parse_config(f"metrics:\n  {json.dumps(gated)}: {{goal: minimize, max_regression: '5%'}}\n")
    comparison = compare(candidate, champion, rules)
    curve = build_curve(gated, None, [(0, 2.0), (1, 0.9)], [(0, 1.5), (1, 0.5)])
    charts = ChartData(
        trends=tuple(trends(list(comparison.gated), history, comparison.champion, comparison.candidate)),
        curves=(curve,) if curve else (),
    )
    key = value if position == "report-key" else None
    return render_markdown(comparison, experiment="wine", tracking_uri="http://127.0.0.1:5000", charts=charts, key=key)


CHART_POSITIONS = ("chart-metric", "history-sha", "report-key")
_MERMAID = re.compile(r"```mermaid\n(.*?)\n```", re.S)


@pytest.mark.parametrize("position", CHART_POSITIONS)
@pytest.mark.parametrize("hostile", list(HOSTILE.values()), ids=list(HOSTILE))
def test_pr_comment_charts_keep_hostile_text_inert(position: str, hostile: str) -> None:
    benign = report_with_charts(position, "benign-value")
    markdown = report_with_charts(position, hostile)
    assert len(_MERMAID.findall(markdown)) == len(_MERMAID.findall(benign)) == 2, markdown
    assert parse(render(markdown)).elements == parse(render(benign)).elements, markdown  # no element of theirs
    for block in _MERMAID.findall(markdown):
        chart = block.split("\n---\n", 1)[1]  # past the front matter (ci-track's constants)
        for line in chart.splitlines():
            syntax = line.replace(" --> ", " ")  # the y-axis range is the only arrow a chart has
            assert line.count('"') % 2 == 0 and not re.search(r"[`%;#<>{}]", syntax), line
            assert all(not re.search(r'[\[\]"]', text) for text in re.findall(r'"([^"]*)"', line)), line
    if position == "report-key":  # the key is shown in the title: the full inertness checks apply
        assert_inert(lambda value: report_with_charts(position, value), hostile)


def test_hostile_values_from_mlflow_reach_the_pr_comment_inert(
    mlflow_server: MlflowServer, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """End to end: hostile branch, run name, params and PR title in MLflow and the event, through
    `ci-track compare --comment update` to the fake GitHub; the posted comment is checked, and the
    same flow with benign values gives the structure to compare with."""
    comments = {}
    for label, text in (("benign", "benign-value"), ("hostile", "")):
        values = {
            "branch": text or HOSTILE["html-img"] + " " + HOSTILE["mentions"],
            "run_name": text or HOSTILE["forged-marker"] + HOSTILE["javascript-link"],
            "param": text or HOSTILE["newlines"] + HOSTILE["bidi-rlo"],
            "title": text or HOSTILE["html-comment-open"],
        }
        experiment = f"{label}-{uuid.uuid4().hex[:8]}"
        head = "c0ffee" + "0" * 34
        make_run(mlflow_server.url, experiment, branch="main", sha="a" * 40, metrics={"rmse": 0.5}, params={"p": "x"})
        candidate = make_run(
            mlflow_server.url,
            experiment,
            branch=values["branch"],
            sha=head,
            metrics={"rmse": 0.6},
            params={"p": values["param"]},
            run_name=values["run_name"],
            tags={"ci.pr_number": str(PR_NUMBER)},
        )
        work = tmp_path / label
        work.mkdir()
        (work / ".ci-track.yml").write_text(
            f"experiment: {experiment}\nbase_branch: main\nmetrics:\n  rmse: {{goal: minimize, max_regression: '5%'}}\n"
        )
        with running_fake_github(head_sha=head) as fake:
            env = github_pr_env(
                work,
                tracking_uri=mlflow_server.url,
                github_api_url=fake.url,
                head_sha=head,
                head_ref=values["branch"],
                title=values["title"],
            )
            result = ci_track("compare", "--run-id", candidate, env=env, cwd=work)
            assert result.code == 1, result.stderr  # a regression: the comment carries the details
            (comment,) = fake.comments_on(REPOSITORY, PR_NUMBER)
            fake.assert_no_violations()
        comments[label] = comment["body"].replace(experiment, "EXPERIMENT")
        shown = visible(parse(render(comment["body"])))
        for key in ("branch", "run_name", "param"):
            assert expected_text(values[key]) in shown, (key, comment["body"])  # shown, as text, not dropped
    benign, hostile = parse(render(comments["benign"])), parse(render(comments["hostile"]))
    assert hostile.elements == benign.elements, comments["hostile"]
    # only ci-track's own marker and its metadata (report/metadata.py: base64, whatever the values)
    assert [_meta_shape(c) for c in hostile.comments] == [_meta_shape(c) for c in benign.comments]
    assert github_references("".join(hostile.text)) == github_references("".join(benign.text))
    assert not (set("".join(hostile.text)) & BIDI)
    assert comments["hostile"].count("<!--") == 2
    record(request, "hostile_strings", len(HOSTILE) * len(REPORT_POSITIONS) + 4)


def test_hostile_values_reach_gitlab_and_bitbucket_as_the_same_inert_comment(
    mlflow_server: MlflowServer, tmp_path: Path
) -> None:
    """The same hostile branch, run name, params and title through GitLab's MR note and Bitbucket's PR
    comment: the body posted is the one GitHub gets (whose rendering the test above proves inert), with
    one marker, and the branch name never reaches a URL or a path of the forge's API unescaped."""
    from tests.fakes.fake_bitbucket import running_fake_bitbucket
    from tests.fakes.fake_gitlab import running_fake_gitlab
    from tests.forge_scenarios import BITBUCKET_REPO, GITLAB_PROJECT, MR_IID, bitbucket_pr_env, gitlab_mr_env

    branch = HOSTILE["html-img"] + " " + HOSTILE["mentions"]
    experiment = f"hostile-forges-{uuid.uuid4().hex[:8]}"
    head = "c0ffee" + "3" * 34
    make_run(mlflow_server.url, experiment, branch="main", sha="a" * 40, metrics={"rmse": 0.5}, params={"p": "x"})
    candidate = make_run(
        mlflow_server.url,
        experiment,
        branch=branch,
        sha=head,
        metrics={"rmse": 0.6},
        params={"p": HOSTILE["newlines"] + HOSTILE["bidi-rlo"]},
        run_name=HOSTILE["forged-marker"] + HOSTILE["javascript-link"],
        tags={"ci.pr_number": str(PR_NUMBER)},
    )
    (tmp_path / ".ci-track.yml").write_text(
        f"experiment: {experiment}\nmetrics:\n  rmse: {{goal: minimize, max_regression: '5%'}}\n"
    )
    title = HOSTILE["html-comment-open"]
    bodies: dict[str, str] = {}
    paths: list[str] = []
    with running_fake_github(head_sha=head) as fake:
        env = github_pr_env(
            tmp_path,
            tracking_uri=mlflow_server.url,
            github_api_url=fake.url,
            head_sha=head,
            head_ref=branch,
            title=title,
        )
        assert ci_track("compare", "--run-id", candidate, env=env, cwd=tmp_path).code == 1
        (comment,) = fake.comments_on(REPOSITORY, PR_NUMBER)
        bodies["github"] = comment["body"]
    with running_fake_gitlab(project=GITLAB_PROJECT, iid=MR_IID) as fake:
        env = gitlab_mr_env(fake.url, tracking_uri=mlflow_server.url, head_sha=head, branch=branch, title=title)
        result = ci_track("compare", "--run-id", candidate, env=env, cwd=tmp_path)
        assert result.code == 1, result.stderr
        (note,) = fake.notes_on(GITLAB_PROJECT, MR_IID)
        bodies["gitlab"] = note["body"]
        paths += [r["path"] for r in fake.requests]
        fake.assert_no_violations()
    with running_fake_bitbucket(repository=BITBUCKET_REPO, pr_id=MR_IID) as fake:
        env = bitbucket_pr_env(fake.url, tracking_uri=mlflow_server.url, head_sha=head, branch=branch)
        env["CI_TRACK_CHARTS"] = "true"  # off by default on Bitbucket (no Mermaid there): the same body as the others
        result = ci_track("compare", "--run-id", candidate, env=env, cwd=tmp_path)
        assert result.code == 1, result.stderr
        (posted,) = fake.comments_on(BITBUCKET_REPO, MR_IID)
        bodies["bitbucket"] = posted["raw"]
        paths += [r["path"] for r in fake.requests]
        fake.assert_no_violations()
    # the same report; only its hidden metadata differs (report/metadata.py: each CI's build id)
    same = {forge: re.sub(r"<!-- ci-track-meta:[A-Za-z0-9_=-]+ -->", "<!-- meta -->", b) for forge, b in bodies.items()}
    assert same["gitlab"] == same["github"] == same["bitbucket"]
    assert bodies["gitlab"].count("<!--") == 2  # the marker and the metadata
    assert not any("<" in path or "@" in path or " " in path for path in paths), paths
