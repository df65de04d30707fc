#!/bin/sh
# Installs ci-track into a virtualenv on a Jenkins agent; the ciTrack steps write this file from the
# library's resources (libraryResource) and run it when they need to install ci-track.
#
#   install-ci-track.sh VENV PYTHON --git URL REVISION [SUBDIRECTORY]
#       ci-track from the library's own Git repository, at the revision Jenkins loaded the library
#       from. A branch or tag is first resolved to its commit (git ls-remote), so the virtualenv is
#       reinstalled when a branch moves and the log names the exact commit installed.
#   install-ci-track.sh VENV PYTHON --requirement REQUIREMENT
#       any pip requirement: a version from your index, a wheel or directory path, a VCS URL.
#
# The virtualenv is reused while it holds the same requirement (recorded in VENV/.ci-track-requirement).
# pip finds the dependencies the way it is configured on the agent (PIP_INDEX_URL, pip.conf ...).
# Exit status: 0 installed or reused, 2 bad arguments, otherwise the status of the failing command.
set -eu

usage() {
  echo "install-ci-track.sh: usage: VENV PYTHON --git URL REVISION [SUBDIRECTORY] | VENV PYTHON --requirement REQUIREMENT" >&2
  exit 2
}

# The commit REVISION (a branch, a tag, or a commit) names in the repository at URL. A revision that
# git ls-remote does not list (an abbreviated commit, say) is passed on as it is, for pip to resolve.
resolve_commit() {
  if printf '%s\n' "$2" | grep -Eq '^[0-9a-f]{40}$'; then
    printf '%s\n' "$2"
    return
  fi
  refs=$(git ls-remote -- "$1" "$2" "$2^{}")
  # An annotated tag is listed twice; its "^{}" line holds the commit it points to.
  commit=$(printf '%s\n' "$refs" | awk '$2 ~ /\^\{\}$/ { print $1; exit }')
  if [ -z "$commit" ]; then
    commit=$(printf '%s\n' "$refs" | awk 'NF == 2 { print $1; exit }')
  fi
  printf '%s\n' "${commit:-$2}"
}

[ "$#" -ge 4 ] || usage
venv=$1
python=$2
case "$3" in
  --git)
    [ "$#" -ge 5 ] || usage
    url=$4
    commit=$(resolve_commit "$url" "$5")
    # A bare VCS URL, not "ci-track @ URL": pip before 24 rejects PEP 508 URLs without a host (file:///).
    requirement="git+$url@$commit"
    if [ -n "${6:-}" ]; then
      requirement="$requirement#subdirectory=$6"
    fi
    ;;
  --requirement)
    requirement=$4
    ;;
  *)
    usage
    ;;
esac

marker="$venv/.ci-track-requirement"
if [ -x "$venv/bin/ci-track" ] && [ "$(cat "$marker" 2>/dev/null || true)" = "$requirement" ]; then
  echo "ci-track: using $venv/bin/ci-track, installed from: $requirement"
  exit 0
fi
echo "ci-track: installing $requirement into $venv"
# A fresh virtualenv: nothing of an earlier requirement can linger in it.
"$python" -m venv --clear "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check "$requirement"
printf '%s\n' "$requirement" > "$marker"
"$venv/bin/ci-track" --version
