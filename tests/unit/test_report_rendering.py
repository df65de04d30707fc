"""The markdown report as GitHub renders it: cmark-gfm (GitHub's own library) and a headless Chromium screenshot.

cmark-gfm is run with the GFM extensions GitHub enables (table, autolink, strikethrough, tagfilter,
tasklist) and with raw HTML allowed (CMARK_OPT_UNSAFE), as on github.com, where the HTML is
sanitized afterwards: that keeps ci-track's own `<details>` and marker comment, and it means any
hostile HTML that got through unescaped would show up here as a live tag. The HTML is then checked
for what a hostile metric, param or branch name could do: links, images, scripts, mentions,
references, extra table columns, hidden comments, reordered text.
"""

from __future__ import annotations

import html.parser
import os
import re
import shutil
import struct
import subprocess
from pathlib import Path

import cmarkgfm
import pytest
from cmarkgfm.cmark import Options

from ci_track.report.markdown import marker, render_markdown
from ci_track.report.text import escape_inline
from tests.report_scenarios import HOSTILE, HOSTILE_BRANCH, SCENARIOS, TRACKING_URI, experiment_of

GITHUB_OPTIONS = Options.CMARK_OPT_UNSAFE | Options.CMARK_OPT_GITHUB_PRE_LANG | Options.CMARK_OPT_FOOTNOTES
CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
# Everything the report itself produces; any other element came from someone's data.
ALLOWED_TAGS = {
    "h3", "p", "table", "thead", "tbody", "tr", "th", "td", "ul", "li", "strong", "code", "a",
    "details", "summary", "sub", "br", "blockquote",
}  # fmt: skip
BIDI = re.compile("[\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]")


class Page(html.parser.HTMLParser):
    """The parts of the HTML the assertions look at."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.comments: list[str] = []
        self.text: list[str] = []
        self.tables: list[list[list[str]]] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            self.tables[-1][-1].append("".join(self._cell).strip())
            self._cell = None

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._cell is not None:
            self._cell.append(data)

    def handle_comment(self, data: str) -> None:
        self.comments.append(data)


def render_html(name: str) -> str:
    markdown = render_markdown(SCENARIOS[name](), experiment=experiment_of(name), tracking_uri=TRACKING_URI)
    return cmarkgfm.github_flavored_markdown_to_html(markdown, options=GITHUB_OPTIONS)


def parse(name: str) -> Page:
    page = Page()
    page.feed(render_html(name))
    page.close()
    return page


def shown_as(text: str) -> str:
    """What a hostile string must look like once rendered: the same characters, defanged."""
    out = re.sub(r"[\r\n\t]", " ", text)
    out = BIDI.sub("\ufffd", out)
    return out.replace("@", "@\u200b").replace("#", "#\u200b")


# ---------------------------------------------------------------- hostile strings render inert


def test_hostile_strings_create_no_elements_links_or_images() -> None:
    page = parse("hostile")
    tags = {tag for tag, _ in page.tags}
    assert tags <= ALLOWED_TAGS, f"unexpected elements: {sorted(tags - ALLOWED_TAGS)}"
    for tag, attrs in page.tags:
        if tag == "a":
            assert set(attrs) == {"href"}
            assert (attrs["href"] or "").startswith(TRACKING_URI + "/#/experiments/4"), attrs
        elif tag in ("th", "td"):
            assert attrs in ({}, {"align": "left"}, {"align": "right"}), (tag, attrs)  # column alignment
        else:
            # <details open>, onerror=, src= ... only ever come from data.
            assert attrs == {}, (tag, attrs)
    html_text = render_html("hostile")
    for needle in ('href="javascript:', "<script", "<img", "<iframe", "<em>", "<del>"):  # as markup, not as text
        assert needle not in html_text.lower()


def test_hostile_strings_show_as_the_same_characters() -> None:
    page = parse("hostile")
    cells = {row[0] for table in page.tables for row in table if row}
    for index, text in enumerate(HOSTILE):
        assert shown_as(f"m{index} {text}") in cells, shown_as(f"m{index} {text}")
    param_rows = page.tables[2][1:]
    assert {row[0] for row in param_rows} == {shown_as(text) for text in HOSTILE}
    assert {row[2] for row in param_rows} == {shown_as(f"new {text}") for text in HOSTILE}


BLOCK_STARTERS = [
    "# heading",
    "> quote",
    "- item",
    "+ item",
    "* item",
    "1. item",
    "2) item",
    "===",
    "---",
    "    indented code",
    "```python",
    "~~~",
    "| a | b |",
    "<div>",
    "[ref]: https://evil.example",
    "[^1]: footnote",
    "- [ ] task",
]


@pytest.mark.parametrize("text", HOSTILE + BLOCK_STARTERS + [HOSTILE_BRANCH])
def test_escaped_text_is_one_literal_paragraph_or_cell(text: str) -> None:
    escaped = escape_inline(text)
    assert "\n" not in escaped
    for markdown, wrapper in ((escaped, "p"), (f"| h |\n|--|\n| {escaped} |\n", "table")):
        page = Page()
        page.feed(cmarkgfm.github_flavored_markdown_to_html(markdown, options=GITHUB_OPTIONS))
        tags = {tag for tag, _ in page.tags}
        expected = {"p"} if wrapper == "p" else {"table", "thead", "tbody", "tr", "th", "td"}
        assert tags == expected, (markdown, tags)
        assert not page.comments
        if wrapper == "table":
            assert page.tables[0][1:] == [[shown_as(text).strip()]]
        else:
            assert "".join(page.text).strip() == shown_as(text).strip()


def test_the_only_comment_is_the_marker() -> None:
    for name in SCENARIOS:
        page = parse(name)
        assert [f"<!--{c}-->" for c in page.comments] == [marker(experiment_of(name))], name


def test_no_live_mentions_references_or_bidi_controls() -> None:
    text = "".join(parse("hostile").text)
    assert not re.search(r"(?<![\w@])@[A-Za-z0-9]", text), "a live @mention"
    assert not re.search(r"(?<!\w)#\d", text), "a live #reference"
    assert not BIDI.search(text)
    assert shown_as(HOSTILE_BRANCH) in text


def test_tables_keep_their_columns_whatever_the_data() -> None:
    for name in SCENARIOS:
        page = parse(name)
        for table in page.tables:
            header = table[0]
            assert header[:3] in (["metric", "champion", "candidate"], ["param", "champion", "candidate"]), header
            assert all(len(row) == len(header) for row in table), (name, [len(r) for r in table])
    hostile = parse("hostile")
    comparison = SCENARIOS["hostile"]()
    assert [len(t) - 1 for t in hostile.tables] == [
        len(comparison.gated),
        len(comparison.others),
        len(comparison.params),
    ]
    assert [len(t[0]) for t in hostile.tables] == [6, 6, 4]


def test_regular_reports_render_their_structure() -> None:
    page = parse("regression")
    assert [tag for tag, _ in page.tags].count("details") == 2
    assert page.tables[0][1] == ["rmse", "0.742", "0.801", "+0.059", "+8.0%", "❌ regressed"]
    text = "".join(page.text)
    assert "ci-track: regression · wine-quality" in text
    assert "rmse 0.742 -> 0.801 (+8.0%), allowed +2%" in text


# ---------------------------------------------------------------- how it looks

GITHUB_CSS = """
body { font-family: -apple-system, "Segoe UI", "Noto Sans", Helvetica, Arial, sans-serif, "Noto Color Emoji";
       font-size: 14px; line-height: 1.5; color: #1f2328; background: #fff; margin: 0; padding: 16px; }
.comment { max-width: 920px; border: 1px solid #d0d7de; border-radius: 6px; padding: 16px 24px; }
h3 { font-size: 1.25em; margin: 0 0 16px; }
table { border-collapse: collapse; margin: 0 0 16px; display: block; overflow: auto; }
th, td { border: 1px solid #d0d7de; padding: 6px 13px; }
tr:nth-child(2n) { background: #f6f8fa; }
th { font-weight: 600; }
code { background: rgba(175,184,193,.2); border-radius: 6px; padding: .2em .4em; font-size: 85%; }
a { color: #0969da; text-decoration: none; }
details { margin: 0 0 16px; } summary { cursor: pointer; }
blockquote { color: #59636e; border-left: .25em solid #d0d7de; margin: 0 0 16px; padding: 0 1em; }
sub { color: #59636e; }
"""


def github_like_page(body: str) -> str:
    return (
        '<!DOCTYPE html><html><head><meta charset="utf-8"><style>'
        + GITHUB_CSS
        + '</style></head><body><div class="comment">'
        + body.replace("<details>", "<details open>")  # open, so the screenshot shows the collapsed parts too
        + "</div></body></html>"
    )


def screenshot(html_text: str, directory: Path, name: str) -> Path:
    assert CHROMIUM is not None
    page = directory / f"{name}.html"
    page.write_text(html_text, encoding="utf-8")
    png = directory / f"{name}.png"
    profile = directory / f"profile-{name}"
    subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={profile}",
            f"--screenshot={png}",
            "--window-size=1000,900",
            page.as_uri(),
        ],
        check=True,
        capture_output=True,
        timeout=180,
    )
    return png


def png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", header[16:24])
    return width, height


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install -y chromium)")
@pytest.mark.parametrize("name", ["regression", "hostile"])
def test_rendered_report_screenshot(name: str, tmp_path: Path) -> None:
    """A real browser lays the report out; CI_TRACK_SCREENSHOT_DIR keeps the PNGs for a person to look at."""
    body = render_html(name)
    png = screenshot(github_like_page(body), tmp_path, name)
    assert png_size(png) == (1000, 900)
    assert png.stat().st_size > 20_000  # a blank page is a few kB; a laid-out report is much more
    keep = os.environ.get("CI_TRACK_SCREENSHOT_DIR")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(png, Path(keep) / png.name)
        shutil.copy(tmp_path / f"{name}.html", Path(keep) / f"{name}.html")
