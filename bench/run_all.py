"""Runs every ci-track benchmark, one after the other, and writes bench/RESULTS.md.

    .venv/bin/python bench/run_all.py            # the figures of record (about 15 minutes)
    BENCH_SCALE=0.05 BENCH_REPEAT=3 bench/run    # a quick pass while developing

BENCH_SCALE multiplies the experiment sizes (1,000 and 20,000 runs at 1.0); BENCH_REPEAT is the
number of timed runs behind each median (10 at full size). A run at any other scale, or of only
some benchmarks, writes bench/.cache/RESULTS.partial.md instead, so RESULTS.md only ever holds a
full-size run of everything. Benchmarks run sequentially: a timing never shares the CPU with
another benchmark (it may with whatever else the machine runs: the load average is recorded).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import traceback
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # `bench` and `tests` as packages

from bench import bench_cli, bench_compare, bench_floor, bench_github, bench_install
from bench.common import BENCH_DIR, CACHE_DIR, REPO_ROOT, BenchContext, Figure, failed, load_average, machine_facts

BENCHMARKS = {
    "cli": bench_cli,  # first: cold starts are best measured before anything else warms or loads the machine
    "compare": bench_compare,
    "floor": bench_floor,  # compare vs a stdlib script making the same requests (issue 12)
    "github": bench_github,
    "install": bench_install,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=float(os.environ.get("BENCH_SCALE", "1")))
    parser.add_argument("--repeat", type=int, default=int(os.environ.get("BENCH_REPEAT", "10")))
    parser.add_argument(
        "--only", default=os.environ.get("BENCH_ONLY", ""), help=f"comma list of {', '.join(BENCHMARKS)}"
    )
    parser.add_argument("--output", type=Path, help="default: bench/RESULTS.md for a full run, else a partial file")
    parser.add_argument("--keep-work", action="store_true", help="keep the scratch directory (servers' logs, venvs)")
    args = parser.parse_args(argv)
    selected = [name.strip() for name in args.only.split(",") if name.strip()] or list(BENCHMARKS)
    unknown = set(selected) - set(BENCHMARKS)
    if unknown:
        parser.error(f"unknown benchmarks {sorted(unknown)}; known: {', '.join(BENCHMARKS)}")
    full = args.scale == 1 and set(selected) == set(BENCHMARKS)
    output = args.output or (BENCH_DIR / "RESULTS.md" if full else CACHE_DIR / "RESULTS.partial.md")

    facts = machine_facts()
    work = Path(tempfile.mkdtemp(prefix="ci-track-bench-"))
    ctx = BenchContext(scale=args.scale, repeat=args.repeat, work=work, log=lambda text: print(text, flush=True))
    print(f"benchmarks: {', '.join(selected)}; scale {args.scale}, repeat {args.repeat}; scratch in {work}")
    figures: list[Figure] = []
    loads: list[str] = []
    started = time.monotonic()
    try:
        for name in selected:
            print(f"[{name}]", flush=True)
            before = load_average()
            try:
                figures.extend(BENCHMARKS[name].run(ctx))
            except Exception as error:  # noqa: BLE001 - one broken benchmark must not lose the others' figures
                traceback.print_exc()
                figures.append(failed(f"{name} benchmarks", "", f"{type(error).__name__}: {error}"))
            loads.append(f"{name} {before:.2f} -> {load_average():.2f}")
    finally:
        ctx.close()
        if not args.keep_work:
            import shutil

            shutil.rmtree(work, ignore_errors=True)
    facts["load during the run"] = "; ".join(loads)
    facts["duration"] = f"{time.monotonic() - started:.0f} s"
    output.parent.mkdir(parents=True, exist_ok=True)
    text = render(figures, facts, args=args, selected=selected, full=full)
    previous = output.read_text(encoding="utf-8") if output.exists() else ""
    output.write_text(text.rstrip("\n") + "\n" + kept_sections(previous), encoding="utf-8")
    if full and args.output is None:
        quote_in_readme(figures, facts)
    print(render_table(figures))
    print(f"wrote {output.relative_to(REPO_ROOT) if output.is_relative_to(REPO_ROOT) else output}")
    return 0


def _value(value: float | None, unit: str) -> str:
    if value is None:
        return "not measured"
    if unit == "s":
        return f"{value:.3f} s" if value < 10 else f"{value:.1f} s"
    if unit == "MB":
        return f"{value:.1f} MB"
    if unit == "requests":
        return f"{value:g}"
    return f"{value:g} {unit}".strip()


def _ratio(figure: Figure) -> str:
    if figure.ratio_label:
        return figure.ratio_label
    if figure.ratio is None:
        return ""
    ratio = figure.ratio
    return f"{ratio:.2f}" + (f" (1/{1 / ratio:.1f})" if 0 < ratio < 1 else "")


def _met(figure: Figure) -> str:
    if figure.error:
        return "not measured"
    return {True: "yes", False: "**no**", None: "n/a"}[figure.met]


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


GENERATED_SECTIONS = ("Machine", "Figures", "Notes", "Goals missed")


def kept_sections(previous: str) -> str:
    """The sections of an earlier RESULTS.md that this run does not write: the figures other benchmarks
    append (bench/decision_quality.py, bench/reuse_replay.py, bench/bench_charts.py ...), kept as they were."""
    kept: list[str] = []
    keeping = False
    for line in previous.splitlines():
        if line.startswith("## "):
            keeping = line[3:].strip() not in GENERATED_SECTIONS
        elif line.startswith("# "):
            keeping = False
        if keeping:
            kept.append(line)
    return ("\n" + "\n".join(kept) + "\n") if kept else ""


def render_table(figures: list[Figure]) -> str:
    lines = ["| figure | ci-track | comparison | ratio | goal | met? |", "|---|---|---|---|---|---|"]
    for figure in figures:
        comparison = figure.comparison_label or (
            "" if figure.comparison is None else _value(figure.comparison, figure.unit)
        )
        cells = [
            figure.name,
            _value(figure.ci_track, figure.unit),
            comparison,
            _ratio(figure),
            figure.goal,
            _met(figure),
        ]
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return "\n".join(lines)


def render(
    figures: list[Figure], facts: dict[str, str], *, args: argparse.Namespace, selected: list[str], full: bool
) -> str:
    out = ["# ci-track benchmark results", ""]
    if not full:
        out += [
            f"> A partial run (scale {args.scale}, benchmarks: {', '.join(selected)}): not the figures of record.",
            "",
        ]
    out += [
        "Written by `bench/run` (`bench/run_all.py`); how each figure is measured is in bench/README.md.",
        "",
        "## Machine",
        "",
        "| | |",
        "|---|---|",
    ]
    out += [f"| {key} | {_cell(value)} |" for key, value in facts.items()]
    out += [f"| runs per median | {args.repeat} |", f"| experiment sizes | scale {args.scale} |", ""]
    out += ["## Figures", "", render_table(figures), ""]
    noted = [f for f in figures if f.note or f.error]
    if noted:
        out += ["## Notes", ""]
        for figure in noted:
            text = (figure.error and f"not measured: {figure.error}") or figure.note
            out.append(f"- **{_cell(figure.name)}**: {text}")
        out.append("")
    missed = [f for f in figures if f.met is False]
    out += ["## Goals missed", ""]
    if missed:
        out += [f"- **{_cell(f.name)}** (see its note above)." for f in missed]
    else:
        out.append("None of the measured figures missed its goal.")
    out.append("")
    return "\n".join(out)


def quote_in_readme(figures: list[Figure], facts: dict[str, str]) -> None:
    """Replace the "Latest results" section of bench/README.md with this run's table, date and machine."""
    readme = BENCH_DIR / "README.md"
    text = readme.read_text(encoding="utf-8")
    start, end = "<!-- results:start -->", "<!-- results:end -->"
    if start not in text or end not in text:
        return
    machine = (
        f"{facts['date']}, {facts['nproc']} CPUs ({facts['cpu']}), {facts['memory']}, Python {facts['python']}, "
        f"mlflow {facts['mlflow']}; load average during the run: {facts['load during the run']}"
    )
    body = f"{start}\nFrom [RESULTS.md](RESULTS.md) ({machine}):\n\n{render_table(figures)}\n{end}"
    head, rest = text.split(start, 1)
    readme.write_text(head + body + rest.split(end, 1)[1], encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
