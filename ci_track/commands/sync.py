"""`ci-track sync`: upload results an earlier `ci-track run` had to spool, exactly once.

With nothing spooled (the default spool directory missing or empty) it says "nothing to sync"
and exits 0, so a CI step can always run it; a file or directory named on the command line that
does not exist is a usage error (exit 2).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

HELP = "upload results that `ci-track run` spooled while the tracking server was unreachable"
DESCRIPTION = (
    "Send every spooled result (default place: .ci-track/spool under the working directory, or "
    "CI_TRACK_SPOOL_DIR) to the tracking server, each exactly once."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="*", metavar="SPOOL_FILE_OR_DIR", help="spool files or directories")
    parser.add_argument("--tracking-uri", help="MLflow tracking server (default: the one recorded in the spool)")


def main(args: argparse.Namespace) -> int:
    from ci_track.errors import TOO_DEEP, ConfigError, ExitCode, TrackingError
    from ci_track.secrets import redact
    from ci_track.settings import TrackingSettings, environment
    from ci_track.tracking.client import MlflowClient
    from ci_track.tracking.spool import PendingResults, default_spool_dir, list_spool
    from ci_track.tracking.upload import send_pending

    environ = environment()
    files: list[Path] = []
    if args.paths:
        for target in map(Path, args.paths):
            if target.is_dir():
                files.extend(list_spool(target))
            elif target.is_file():
                files.append(target)
            else:
                raise ConfigError(f"no spool at {target}")  # a path the user named: a typo, not "nothing"
    else:
        # A CI step that always runs `ci-track sync` must pass when `run` had nothing to keep:
        # the default spool missing or empty is not an error.
        files = list_spool(default_spool_dir(environ, Path.cwd()))
    if not files:
        print("ci-track: nothing to sync", file=sys.stderr)
        return int(ExitCode.OK)

    failures = 0
    for path in files:
        claimed = path.with_suffix(".sending")
        try:
            os.replace(path, claimed)  # another sync already took it if this fails
        except FileNotFoundError:
            continue
        try:
            pending = PendingResults.from_json(claimed.read_text(encoding="utf-8"))
        except (ValueError, KeyError, RecursionError) as error:
            os.replace(claimed, path)
            reason = TOO_DEEP if isinstance(error, RecursionError) else error
            raise ConfigError(f"spool file {path} is not readable: {reason}") from None
        uri = args.tracking_uri or environ.get("MLFLOW_TRACKING_URI") or pending.tracking_uri
        settings = TrackingSettings.from_env(environ, uri=uri)
        with MlflowClient(settings) as client:
            try:
                send_pending(client, pending, spool_dir=path.parent)  # re-spools the unsent rest on failure
            except TrackingError as error:
                failures += 1
                print(f"ci-track: error: {redact(str(error))}", file=sys.stderr)
                claimed.unlink(missing_ok=True)
                continue
        claimed.unlink()
        print(f"ci-track: synced run {pending.run_id} from {path}", file=sys.stderr)
    return int(ExitCode.SERVICE) if failures else int(ExitCode.OK)
