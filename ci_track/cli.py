"""The `ci-track` command line: parses arguments, dispatches to one verb, maps errors to exit codes.

Each verb lives in `ci_track/commands/<verb>.py` and exposes `HELP`, `DESCRIPTION`,
`add_arguments(parser)` and a handler `main(args) -> int` (a verb with subcommands of its
own, `jenkins`, exposes `register(subparsers)` instead). Command modules import only the
standard library and ci_track.vocabulary at module level, so `ci-track --help` and
`ci-track --version` start fast; heavy imports (requests, PyGithub, Jinja2 ...) happen
inside the handlers, and only those the invocation needs.

This is the only place that turns a `CiTrackError` into a message and an exit code. On GitHub
Actions the message is also an `::error::` annotation, so a refusal that says what to set (an
experiment, a registered model, a report key) shows on the run's page, not only in the log.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from ci_track import __version__
from ci_track.errors import CiTrackError, ExitCode

# Order here is the order of `ci-track --help`.
COMMANDS = ("run", "compare", "promote", "rollback", "comment", "sync", "jenkins")

EXIT_CODES_HELP = """\
exit codes:
  0  success (compare: pass, or no champion with `no_champion: pass`)
  1  the gate found a regression (jenkins trigger: the build ended FAILURE or UNSTABLE)
  2  usage, configuration, MLproject or CI-environment error
  3  the tracking server, GitHub or Jenkins failed, refused or timed out; the champion could not be read
     (jenkins trigger: also a build that ended ABORTED or NOT_BUILT)
  4  internal error (a bug; the traceback is written to a log file)
  run: a failing training command's own exit code
"""


class OneLineErrorParser(argparse.ArgumentParser):
    """argparse, but a usage error is one `ci-track: error:` line (exit 2), like every other error.

    The line carries the prefix once (`self.prog` is already "ci-track compare"): the hint at the
    end names the (sub)command whose --help explains the fix.
    """

    def error(self, message: str) -> NoReturn:
        self.exit(int(ExitCode.USAGE), f"ci-track: error: {message} (see {self.prog} --help)\n")


def _chosen_parser(parser: argparse.ArgumentParser, args: argparse.Namespace) -> argparse.ArgumentParser:
    """The innermost subcommand parser the arguments selected (`ci-track jenkins trigger`'s own)."""
    chosen = parser
    while True:
        subparsers = [a for a in chosen._actions if isinstance(a, argparse._SubParsersAction)]
        name = getattr(args, subparsers[0].dest, None) if subparsers else None
        if not isinstance(name, str) or name not in subparsers[0].choices:
            return chosen
        chosen = subparsers[0].choices[name]


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The whole command line, or with `only` a verb's own parser alone (its module is all it imports)."""
    parser = OneLineErrorParser(
        prog="ci-track",
        description="Track every commit as an MLflow run, compare it with the champion, gate the merge.",
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"ci-track {__version__}")
    # dest "verb", not "command": `run` has a positional `command` that would overwrite it
    subparsers = parser.add_subparsers(dest="verb", metavar="COMMAND")
    for name in COMMANDS if only is None else (only,):
        module = importlib.import_module(f"ci_track.commands.{name}")
        if hasattr(module, "register"):  # a verb with subcommands of its own (`jenkins trigger`)
            module.register(subparsers)
            continue
        command = subparsers.add_parser(
            name, help=module.HELP, description=module.DESCRIPTION, usage=getattr(module, "USAGE", None)
        )
        module.add_arguments(command)
        command.set_defaults(handler=module.main)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    words = list(sys.argv[1:] if argv is None else argv)
    # `ci-track compare ...` builds and imports compare alone (about 0.07 s less than every verb); anything
    # else (--help, --version, a mistyped verb) gets the whole parser and its usual answer.
    parser = build_parser(words[0] if words and words[0] in COMMANDS else None)
    args, unknown = parser.parse_known_args(words)  # argparse exits 2 with a one-line usage error
    if unknown:
        # argparse reports these from the top-level parser; the subcommand's --help is the useful hint
        _chosen_parser(parser, args).error(f"unrecognized arguments: {' '.join(unknown)}")
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return ExitCode.USAGE
    try:
        return int(handler(args))
    except CiTrackError as error:
        _print_error(str(error))
        _annotate_error(str(error))
        for line in error.follow_up:
            print(line, file=sys.stderr)
        return int(error.exit_code)
    except KeyboardInterrupt:
        _print_error("interrupted")
        return int(ExitCode.INTERRUPTED)
    except Exception as error:  # noqa: BLE001 - last resort: one line for the user, the traceback to a log
        log_path = _write_traceback()
        _print_error(f"internal error: {type(error).__name__}: {error} (traceback in {log_path})")
        return int(ExitCode.INTERNAL)


def _print_error(message: str) -> None:
    from ci_track.secrets import redact

    one_line = " ".join(redact(message).split())
    print(f"ci-track: error: {one_line}", file=sys.stderr)


def _annotate_error(message: str) -> None:
    """The error as a GitHub Actions `::error::` annotation (only there; stdout, where the runner reads commands)."""
    from ci_track.ci.github_actions import print_annotations
    from ci_track.secrets import redact
    from ci_track.settings import environment

    print_annotations(environment(), [("error", " ".join(redact(message).split()))])


def _write_traceback() -> str:
    import tempfile  # only on this path: `ci-track --help` and `--version` do not pay for them
    import traceback

    from ci_track.secrets import redact

    fd, path = tempfile.mkstemp(prefix="ci-track-", suffix=".log")
    with os.fdopen(fd, "w") as log:
        log.write(redact(traceback.format_exc()))
    return path


if __name__ == "__main__":
    sys.exit(main())
