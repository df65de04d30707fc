"""Install cost: a fresh venv with ci-track's runtime vs `mlflow-skinny` vs `mlflow`, size on disk and time.

The wheels are fetched once with `pip wheel` (downloads wheels, builds the odd sdist) into
bench/.cache/wheels (PyPI, the ordinary client), and ci-track's own wheel is built from this
checkout every session (its sources are copied out first, so nothing is written into the work
tree). Each install then runs in a new venv with `pip install --no-index --find-links`, with
the machine's pip configuration switched off (no extra indexes, constraints or caches), so the
time is unpacking and byte-compiling, not the network. Size: what the install added to the venv,
counted in allocated blocks like `du`. mlflow and mlflow-skinny are pinned to the version the
test server runs.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from bench.common import (
    CACHE_DIR,
    REPO_ROOT,
    BenchContext,
    CommandFailed,
    Figure,
    clean_env,
    dir_size,
    failed,
    median,
    run_once,
    time_command,
)

SIZE_GOAL = 1 / 3  # of mlflow-skinny's size, issue 7
WHEELS = CACHE_DIR / "wheels"
SIZE_MISS = (
    "Missed because of what the client libraries bring, not ci-track's own code (see the breakdown): PyGithub "
    "pulls in PyJWT[crypto], cryptography and PyNaCl (GitHub App JWTs and secret encryption, which ci-track never "
    "uses). What would close it: speak the few GitHub endpoints ci-track calls (issue comments, commit statuses, "
    "check runs) with `requests`, already a dependency, or make PyGithub and python-jenkins extras "
    "(`ci-track[github]`, `ci-track[jenkins]`) so a GitLab or plain job installs neither"
)


def _pip_env() -> dict[str, str]:
    """pip with none of this machine's configuration: no extra index, constraints, find-links or cache."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env |= {"PIP_CONFIG_FILE": os.devnull, "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_CACHE_DIR": "1"}
    env.pop("VIRTUAL_ENV", None)
    return env


def _runtime_requirements() -> list[str]:
    """ci-track's own dependencies as pyproject.toml declares them, without the mlflow extra."""
    from importlib.metadata import requires

    return [text for text in requires("ci-track") or [] if "extra ==" not in text]


def _mlflow_version() -> str:
    from importlib.metadata import version

    return version("mlflow")


def ensure_wheels(ctx: BenchContext) -> None:
    """Download every wheel the three installs need, once (a marker file per requirement set)."""
    targets = {
        "ci-track-runtime": _runtime_requirements(),
        "mlflow-skinny": [f"mlflow-skinny=={_mlflow_version()}"],
        "mlflow": [f"mlflow=={_mlflow_version()}"],
    }
    WHEELS.mkdir(parents=True, exist_ok=True)
    for name, requirements in targets.items():
        digest = hashlib.sha256("\n".join(requirements).encode()).hexdigest()[:12]
        marker = WHEELS / f".downloaded-{name}-{digest}"
        if marker.exists():
            continue
        ctx.log(f"  pip download {name} into {WHEELS.relative_to(REPO_ROOT)} (once)")
        env = _pip_env()
        env.pop("PIP_NO_CACHE_DIR")  # the download may use pip's HTTP cache
        run_once(
            # `pip wheel`, not `pip download`: a dependency published only as an sdist (python-jenkins
            # needs one) is built into a wheel here once, so the timed installs never build anything.
            [sys.executable, "-m", "pip", "wheel", "--prefer-binary", "-w", str(WHEELS), *requirements],
            env=env,
            timeout=1800,
        )
        marker.touch()


def build_ci_track_wheel(ctx: BenchContext) -> Path:
    """ci-track's wheel from this checkout, built in a copy of its sources."""
    source = ctx.work / "ci-track-src"
    out = ctx.work / "ci-track-wheel"
    shutil.rmtree(source, ignore_errors=True)
    source.mkdir(parents=True)
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        if (REPO_ROOT / name).exists():
            shutil.copy2(REPO_ROOT / name, source / name)
    shutil.copytree(REPO_ROOT / "ci_track", source / "ci_track", ignore=shutil.ignore_patterns("__pycache__"))
    env = _pip_env()
    env.pop("PIP_NO_CACHE_DIR")
    run_once([sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", str(out), str(source)], env=env, timeout=600)
    (wheel,) = out.glob("ci_track-*.whl")
    return wheel


def install_once(ctx: BenchContext, label: str, requirement: str, find_links: list[Path]) -> tuple[float, int, Path]:
    """(seconds for pip install, bytes added to the venv, venv path) for one fresh venv."""
    venv = ctx.work / "venvs" / label
    shutil.rmtree(venv, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    (venv / "empty-venv-dists.txt").write_text("\n".join(_dist_names(venv)))
    before = dir_size(venv)
    links = [arg for path in find_links for arg in ("--find-links", str(path))]
    seconds, _ = run_once(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "--no-index", *links, requirement],
        env=_pip_env(),
        timeout=1800,
    )
    return seconds, dir_size(venv) - before, venv


def run(ctx: BenchContext) -> list[Figure]:
    ctx.log("  install: fresh venvs from a local wheel cache")
    size_name = "install size on disk (fresh venv)"
    try:
        ensure_wheels(ctx)
        wheel = build_ci_track_wheel(ctx)
    except (CommandFailed, ValueError, OSError) as error:
        return [failed(size_name, "MB", str(error), goal="<= 1/3 of mlflow-skinny")]

    version = _mlflow_version()
    targets = {
        "ci-track": (str(wheel), [wheel.parent, WHEELS]),
        "mlflow-skinny": (f"mlflow-skinny=={version}", [WHEELS]),
        "mlflow": (f"mlflow=={version}", [WHEELS]),
    }
    repeats = {"ci-track": 3, "mlflow-skinny": 3, "mlflow": 1 if ctx.scale < 1 else 3}
    times: dict[str, list[float]] = {}
    sizes: dict[str, int] = {}
    venvs: dict[str, Path] = {}
    for label, (requirement, links) in targets.items():
        ctx.log(f"    pip install {label} x{repeats[label]}")
        try:
            for _ in range(repeats[label]):
                seconds, size, venv = install_once(ctx, label, requirement, links)
                times.setdefault(label, []).append(seconds)
                sizes[label], venvs[label] = size, venv
        except (CommandFailed, subprocess.CalledProcessError, OSError) as error:
            return [failed(size_name, "MB", f"{label}: {error}", goal="<= 1/3 of mlflow-skinny")]

    mb = {label: size / 1e6 for label, size in sizes.items()}
    try:
        breakdown = size_breakdown(venvs["ci-track"], "ci-track")
    except (CommandFailed, ValueError, KeyError) as error:
        breakdown = f"no breakdown: {error}"
    size_met = mb["ci-track"] <= mb["mlflow-skinny"] * SIZE_GOAL
    install_s = {label: median(samples) for label, samples in times.items()}
    packages = {label: _package_count(venvs[label]) for label in venvs}
    figures = [
        Figure(
            f"{size_name}: ci-track vs mlflow-skinny {version}",
            mb["ci-track"],
            "MB",
            comparison=mb["mlflow-skinny"],
            comparison_label=f"mlflow-skinny: {mb['mlflow-skinny']:.1f} MB",
            goal="<= 1/3 of mlflow-skinny",
            met=size_met,
            note=(
                f"distributions added: ci-track {packages['ci-track']}, mlflow-skinny {packages['mlflow-skinny']}, "
                f"mlflow {packages['mlflow']}; ci-track's {breakdown}" + ("" if size_met else f". {SIZE_MISS}")
            ),
        ),
        Figure(
            f"{size_name}: ci-track vs mlflow {version}",
            mb["ci-track"],
            "MB",
            comparison=mb["mlflow"],
            comparison_label=f"mlflow: {mb['mlflow']:.1f} MB",
        ),
        Figure(
            "install time from a local wheel cache: ci-track vs mlflow-skinny",
            install_s["ci-track"],
            "s",
            comparison=install_s["mlflow-skinny"],
            comparison_label=f"mlflow-skinny: {install_s['mlflow-skinny']:.1f} s",
            note=f"median of {len(times['ci-track'])} / {len(times['mlflow-skinny'])} fresh venvs",
            samples=times["ci-track"],
        ),
        Figure(
            "install time from a local wheel cache: ci-track vs mlflow",
            install_s["ci-track"],
            "s",
            comparison=install_s["mlflow"],
            comparison_label=f"mlflow: {install_s['mlflow']:.1f} s",
            note=f"median of {len(times['mlflow'])} fresh venv(s) for mlflow",
        ),
    ]
    figures.append(_wheel_cold_start(ctx, venvs["ci-track"]))
    return figures


def _dist_names(venv: Path) -> list[str]:
    site = next((venv / "lib").glob("python*/site-packages"))
    return sorted(p.name.split("-")[0].lower() for p in site.glob("*.dist-info"))


def _package_count(venv: Path) -> int:
    baseline = set((venv / "empty-venv-dists.txt").read_text().split())
    return len(set(_dist_names(venv)) - baseline)


def size_breakdown(venv: Path, top: str) -> str:
    """The largest distributions, and what each direct requirement of `top` alone adds (see dist_sizes.py)."""
    baseline = (venv / "empty-venv-dists.txt").read_text().split()
    _, done = run_once([str(venv / "bin" / "python"), str(Path(__file__).with_name("dist_sizes.py")), top, *baseline])
    data = json.loads(done.stdout)
    own = data["sizes"].get(top, 0)
    largest = sorted(data["sizes"].items(), key=lambda item: -item[1])[:5]
    exclusive = sorted(data["exclusive"].items(), key=lambda item: -item[1][0])[:3]
    return (
        f"own code {own / 1e6:.1f} MB; largest: "
        + ", ".join(f"{name} {size / 1e6:.1f} MB" for name, size in largest)
        + "; only needed through one requirement: "
        + "; ".join(f"{name} {size / 1e6:.1f} MB ({', '.join(dists)})" for name, (size, dists) in exclusive)
    )


def _wheel_cold_start(ctx: BenchContext, venv: Path) -> Figure:
    """`ci-track --version` from the fresh wheel install: no editable-install import hooks in the way."""
    name = f"cold start from the wheel install: `ci-track --version`, median of {ctx.repeat}"
    env = clean_env(PATH=f"{venv / 'bin'}:/usr/bin:/bin")
    try:
        samples = time_command([str(venv / "bin" / "ci-track"), "--version"], repeat=ctx.repeat, env=env)
    except CommandFailed as error:
        return failed(name, "s", str(error), goal="<= 0.25 s")
    value = median(samples)
    return Figure(name, value, "s", goal="<= 0.25 s", met=value <= 0.25, samples=samples)
