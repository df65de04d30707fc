#!/usr/bin/env bash
# Installs ci-track for the composite action (step "Install ci-track" of action.yml).
#
# In:  CI_TRACK_INSTALL      `skip`, or one pip requirement (default: the action's own checkout)
#      CI_TRACK_BASE_PYTHON  interpreter from actions/setup-python (empty: python3 on PATH)
# Out: step outputs `python` (runs action/entry.py) and `ci-track` (the CLI's absolute path).
#
# ci-track gets its own virtual environment under RUNNER_TEMP so its dependencies never mix with the
# project's; only a `ci-track` link is put on PATH for later steps (e.g. `ci-track promote`), never the
# venv's `python`, so the job's Python stays the job's.
set -euo pipefail

fail() {
    echo "::error title=ci-track install::$1"
    exit 2
}

requirement="${CI_TRACK_INSTALL:-}"
base_python="${CI_TRACK_BASE_PYTHON:-}"

if [[ -z "$requirement" ]]; then
    requirement="$GITHUB_ACTION_PATH"
fi

if [[ "$requirement" == "skip" ]]; then
    cli="$(command -v ci-track || true)"
    [[ -n "$cli" ]] || fail "install: skip, but ci-track is not on PATH; install it in an earlier step or drop install: skip"
    python="$(command -v python3 || command -v python || true)"
    [[ -n "$python" ]] || fail "no python3 on PATH to run the action's entry script; set python-version"
    {
        echo "python=$python"
        echo "ci-track=$cli"
    } >>"$GITHUB_OUTPUT"
    exit 0
fi

# A requirement is one argument for pip, never an option: `--index-url ...` here would be a surprise.
if [[ "$requirement" == -* ]]; then
    fail "install must be 'skip' or one pip requirement (a path, a name==version, a URL), not an option: $requirement"
fi

if [[ -z "$base_python" ]]; then
    base_python="$(command -v python3 || command -v python || true)"
    [[ -n "$base_python" ]] || fail "no python3 on PATH; set the python-version input"
fi

# A fresh directory per use of the action, so two ci-track steps in a job cannot tread on each other.
root="$(mktemp -d "${RUNNER_TEMP:-/tmp}/ci-track-install-XXXXXX")"
venv="$root/venv"
mkdir -p "$root/bin"

echo "::group::Install ci-track ($requirement) with $("$base_python" --version 2>&1)"
"$base_python" -m venv "$venv"
"$venv/bin/python" -m pip install --disable-pip-version-check --no-input --quiet -- "$requirement"
echo "::endgroup::"

[[ -x "$venv/bin/ci-track" ]] || fail "pip installed '$requirement' but it provides no ci-track command"
ln -sf "$venv/bin/ci-track" "$root/bin/ci-track"
echo "$root/bin" >>"$GITHUB_PATH"
"$venv/bin/ci-track" --version
{
    echo "python=$venv/bin/python"
    echo "ci-track=$venv/bin/ci-track"
} >>"$GITHUB_OUTPUT"
