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
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path

import cmarkgfm
import pytest
from cmarkgfm.cmark import Options

from ci_track.context import CIContext
from ci_track.mlflow_client import MlflowClient, TrackingSettings
from ci_track.tags import note_content
from tests.cli_helpers import base_env, ci_track, git, init_repo
from tests.mlflow_server import MlflowServer
from tests.reliability_figures import record

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
    assert rendered.comments == benign.comments, (hostile, markdown)
    assert expected_text(hostile) in visible(rendered), (hostile, markdown)
    raw_text = "".join(rendered.text)
    assert not (set(raw_text) & BIDI), markdown
    assert github_references(raw_text) == github_references("".join(benign.text)), markdown
    # GitHub renders $math$ from the markdown source after GFM (cmarkgfm does not): no bare `$` may pass.
    assert math_delimiters(markdown) == math_delimiters(render_with("benign-value")), markdown


def math_delimiters(markdown: str) -> int:
    return len(re.findall(r"(?<!\\)\$", markdown))


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
