"""The comment's charts as a reviewer sees them: every Mermaid block drawn by the real mermaid library in Chromium.

A few representative comments (a regression with a noise band, no champion, the hostile scenario whose
metric names and SHAs try to break out of the chart syntax, and one so long that its charts had to go)
are rendered by cmark-gfm as GitHub does, put on one page, and every ```` ```mermaid ```` block is
drawn by `mermaid.run()` from node_modules/mermaid (the npm package GitHub's renderer is built on),
in ONE headless Chromium launch that both dumps the DOM and takes the screenshot. The page records,
per block, mermaid's parse error (if any) and what the SVG holds: the x-axis labels, the line plots
and the points of each. The test compares them with the chart data the blocks were built from.
The screenshot of the whole page (every comment) is kept under build/test-artifacts/charts/ (git-ignored;
the path is printed).
"""

from __future__ import annotations

import dataclasses
import html
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import cmarkgfm
import pytest

from ci_track.report.charts import ChartData, Trend
from ci_track.report.markdown import render_markdown
from tests.report_scenarios import SCENARIOS, TRACKING_URI, charts_of, experiment_of
from tests.unit.test_report_rendering import GITHUB_CSS, GITHUB_OPTIONS

ROOT = Path(__file__).resolve().parents[2]
MERMAID = ROOT / "node_modules" / "mermaid" / "dist" / "mermaid.min.js"
CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
ARTIFACTS = ROOT / "build" / "test-artifacts" / "charts"
_BLOCK = re.compile(r'<pre lang="mermaid"><code>(.*?)</code></pre>', re.S)

pytestmark = pytest.mark.skipif(
    CHROMIUM is None or not MERMAID.is_file(), reason="needs Debian's chromium and node_modules/mermaid"
)

_SCRIPT = """
mermaid.initialize({startOnLoad: false, securityLevel: "strict"});
(async () => {
  const results = [];
  for (const node of document.querySelectorAll("pre.chart")) {
    const source = node.textContent;
    const result = {id: node.dataset.chart, error: null};
    try { await mermaid.parse(source); } catch (e) { result.error = String(e && e.message || e); }
    if (result.error === null) {
      try { await mermaid.run({nodes: [node]}); } catch (e) { result.error = String(e && e.message || e); }
    }
    const svg = node.querySelector("svg");
    result.svg = svg !== null && svg.getAttribute("aria-roledescription");
    result.labels = svg ? [...svg.querySelectorAll(".bottom-axis .label text")].map(t => t.textContent) : [];
    result.lines = svg ? [...svg.querySelectorAll("g[class^='line-plot'] path")].map(
      p => (p.getAttribute("d").match(/[ML]/g) || []).length) : [];
    result.title = svg ? [...svg.querySelectorAll(".chart-title text")].map(t => t.textContent).join("") : "";
    result.foreign = svg ? [...svg.querySelectorAll("foreignObject, script, a, image")].length : 0;
    results.push(result);
  }
  document.getElementById("results").textContent = JSON.stringify(results);
  document.title = "charts drawn";
})();
"""


def _long_scenario() -> tuple[str, str, ChartData | None]:
    """A regression whose report only fits once its charts are dropped (the note says so)."""
    comparison = SCENARIOS["regression"]()
    charts = charts_of("regression", comparison)
    markdown = render_markdown(
        comparison, experiment=experiment_of("regression"), tracking_uri=TRACKING_URI, charts=charts, max_chars=3000
    )
    return "too-long", markdown, None


def _with_band(charts: ChartData | None) -> ChartData | None:
    """The regression's first trend with a noise band (as the noise-aware gate gives it)."""
    if charts is None or not charts.trends:
        return charts
    first: Trend = charts.trends[0]
    champion = next(p.value for p in first.points if p.role == "champion")
    banded = dataclasses.replace(first, band=(champion * 0.98, champion * 1.02))
    return dataclasses.replace(charts, trends=(banded, *charts.trends[1:]))


@pytest.fixture(scope="module")
def drawn(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Render the comments, draw them in one Chromium launch; the charts' expected shapes and what was drawn."""
    comments: list[tuple[str, str, ChartData | None]] = []
    for name in ("regression", "no-champion", "hostile"):
        comparison = SCENARIOS[name]()
        charts = charts_of(name, comparison)
        if name == "regression":
            charts = _with_band(charts)
        markdown = render_markdown(comparison, experiment=experiment_of(name), tracking_uri=TRACKING_URI, charts=charts)
        comments.append((name, markdown, charts))
    comments.append(_long_scenario())

    expected: list[dict[str, Any]] = []
    sections = []
    for name, markdown, charts in comments:
        body = cmarkgfm.github_flavored_markdown_to_html(markdown, options=GITHUB_OPTIONS)
        shapes = _shapes(charts)
        blocks = _BLOCK.findall(body)
        assert len(blocks) == len(shapes), (name, len(blocks), len(shapes))

        def chart(match: re.Match[str], name: str = name, shapes: list[dict[str, Any]] = shapes) -> str:
            index = len([e for e in expected if e["comment"] == name])
            expected.append({"comment": name, **shapes[index]})
            return f'<pre class="chart" data-chart="{name}/{index}">{match.group(1)}</pre>'

        body = _BLOCK.sub(chart, body).replace("<details>", "<details open>")
        sections.append(f'<h2>{html.escape(name)}</h2><div class="comment">{body}</div>')
    page = tmp_path_factory.mktemp("charts") / "comments.html"
    page.write_text(
        '<!DOCTYPE html><html><head><meta charset="utf-8"><title>drawing</title><style>'
        + GITHUB_CSS
        + "pre.chart { max-width: 720px; }</style></head><body>"
        + "".join(sections)
        + '<pre id="results"></pre>'
        + f'<script src="{MERMAID.as_uri()}"></script><script>{_SCRIPT}</script></body></html>',
        encoding="utf-8",
    )
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    screenshot = ARTIFACTS / "comments.png"
    assert CHROMIUM is not None
    dom = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--allow-file-access-from-files",
            f"--user-data-dir={page.parent / 'profile'}",
            "--virtual-time-budget=20000",
            "--window-size=1000,12000",
            f"--screenshot={screenshot}",
            "--dump-dom",
            page.as_uri(),
        ],
        check=True,
        capture_output=True,
        text=True,
        timeout=240,
    ).stdout
    shutil.copy(page, ARTIFACTS / "comments.html")
    print(f"\nscreenshot of the rendered comments: {screenshot}")
    found = re.search(r'<pre id="results">(.*?)</pre>', dom, re.S)
    assert found is not None and "<title>charts drawn</title>" in dom, dom[-2000:]
    return {
        "expected": expected,
        "results": json.loads(html.unescape(found.group(1))),
        "screenshot": screenshot,
        "markdown": {name: markdown for name, markdown, _ in comments},
    }


def _shapes(charts: ChartData | None) -> list[dict[str, Any]]:
    """Per chart, in the order the report shows them: the x labels' count and the points of each line."""
    if charts is None:
        return []
    shapes = []
    for trend in charts.trends:
        lines = 1 + (2 if trend.band else 0)
        shapes.append({"kind": "trend", "points": len(trend.points), "lines": [len(trend.points)] * lines})
    for curve in charts.curves:
        lines = 1 + (1 if curve.champion else 0)
        shapes.append({"kind": "curve", "points": None, "lines": [len(curve.steps)] * lines})
    return shapes


def test_every_chart_parses_and_draws_an_svg(drawn: dict[str, Any]) -> None:
    results = drawn["results"]
    assert len(results) == len(drawn["expected"]) >= 8
    for result in results:
        assert result["error"] is None, result
        assert result["svg"] == "xychart", result


def test_each_chart_has_the_expected_points(drawn: dict[str, Any]) -> None:
    for result, expected in zip(drawn["results"], drawn["expected"], strict=True):
        if expected["kind"] == "trend":  # one category per commit, none merged into another
            assert len(result["labels"]) == len(set(result["labels"])) == expected["points"], (result, expected)
        else:  # a numeric step axis: its ticks are numbers
            assert result["labels"] and all(label.replace(".", "").isdigit() for label in result["labels"]), result
        assert result["lines"] == expected["lines"], (result, expected)


def test_hostile_names_and_shas_stay_text_inside_the_chart(drawn: dict[str, Any]) -> None:
    hostile = [r for r in drawn["results"] if r["id"].startswith("hostile/")]
    assert hostile
    for result in hostile:
        assert result["foreign"] == 0, result  # no link, script, image or HTML inside the SVG
        assert not {"<", ">", '"', "`", "%", ";", "#"} & set(result["title"] + "".join(result["labels"])), result
    trend_labels = [label for r in hostile for label in r["labels"] if not label.isdigit()]
    assert any(label.startswith("?") for label in trend_labels)  # tag values that are not SHAs
    assert any(label.startswith("★ ") for label in trend_labels)
    assert any(label.startswith("PR ") for label in trend_labels)


def test_the_too_long_comment_dropped_its_charts_with_a_note(drawn: dict[str, Any]) -> None:
    markdown = drawn["markdown"]["too-long"]
    assert "```mermaid" not in markdown and "the charts" in markdown and len(markdown) <= 3000
    assert not [r for r in drawn["results"] if r["id"].startswith("too-long/")]


def test_the_screenshot_shows_the_comments(drawn: dict[str, Any]) -> None:
    png = Path(drawn["screenshot"])
    header = png.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    assert png.stat().st_size > 100_000  # the tables and a dozen drawn charts, not a blank page
