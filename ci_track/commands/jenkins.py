"""`ci-track jenkins trigger`: start a Jenkins job from another CI, follow it, pass its result on.

Credentials come from JENKINS_USER and JENKINS_TOKEN (a user's API token), never from the
command line. The logic lives in `ci_track.jenkins.trigger`; this module parses arguments,
builds the client and prints the outcome.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ci_track.cli_values import parse_key_values

_DESCRIPTION = """\
Start the Jenkins job JOB with the commit, branch, base branch and PR of this build as the
parameters CI_TRACK_HEAD_SHA, CI_TRACK_BRANCH, CI_TRACK_BASE_BRANCH and CI_TRACK_PR_NUMBER (those
the job declares; --param values win), and print the queue URL. With --wait, follow the build to
its end and exit with its result; with --follow, also stream its console. The MLflow run id the
build recorded (its description `ci-track run: <id>` or its archived ci-track.properties) is
printed as `run-id=<id>` and, on GitHub Actions, written to GITHUB_OUTPUT.

credentials: JENKINS_USER and JENKINS_TOKEN (an API token from the user's Security page).

exit codes: 0 triggered (without --wait) or SUCCESS; 1 FAILURE or UNSTABLE; 2 usage error;
  3 ABORTED, NOT_BUILT, cancelled in the queue, timed out, or Jenkins refused or failed.
"""


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "jenkins",
        help="trigger a Jenkins job and follow it to its result",
        description="Work with a Jenkins server from another CI system.",
    )
    verbs = parser.add_subparsers(dest="jenkins_command", metavar="COMMAND")
    trigger = verbs.add_parser(
        "trigger",
        help="start a Jenkins job with this commit's CI metadata; optionally wait for its result",
        description=_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    trigger.add_argument("--url", required=True, help="the Jenkins server, e.g. https://jenkins.example.com")
    trigger.add_argument("--job", required=True, metavar="NAME", help="the job; in folders: folder/job")
    trigger.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="build parameter (repeatable); wins over the detected CI_TRACK_* values",
    )
    trigger.add_argument("--wait", action="store_true", help="wait for the build and exit with its result")
    trigger.add_argument("--follow", action="store_true", help="stream the build's console (implies --wait)")
    trigger.add_argument(
        "--timeout",
        type=float,
        default=None,
        metavar="SECONDS",
        help="give up waiting for the build to start and finish after this long (default: 3600)",
    )
    trigger.add_argument(
        "--poll-interval",
        type=float,
        default=None,
        metavar="SECONDS",
        help="seconds between polls of the queue, build and console (default: 2)",
    )
    trigger.set_defaults(handler=main)
    parser.set_defaults(handler=_missing_verb(parser))


def _missing_verb(parser: argparse.ArgumentParser) -> Any:
    def handler(args: argparse.Namespace) -> int:
        from ci_track.errors import UsageError

        raise UsageError("name a jenkins command: ci-track jenkins trigger --url URL --job NAME")

    return handler


def main(args: argparse.Namespace) -> int:
    from ci_track.ci.detect import detect_context
    from ci_track.ci.github_actions import write_outputs
    from ci_track.errors import ExitCode, JenkinsError, UsageError
    from ci_track.jenkins import trigger
    from ci_track.jenkins.client import JenkinsClient, job_path
    from ci_track.secrets import redact
    from ci_track.settings import environment

    environ = environment()
    url = trigger.jenkins_url(args.url)
    user = environ.get("JENKINS_USER") or None
    token = environ.get("JENKINS_TOKEN") or None
    if (user is None) != (token is None):
        missing = "JENKINS_TOKEN" if token is None else "JENKINS_USER"
        raise UsageError(f"{missing} is not set: JENKINS_USER and JENKINS_TOKEN go together")
    timeout = trigger.DEFAULT_TIMEOUT if args.timeout is None else args.timeout
    poll_interval = trigger.DEFAULT_POLL_INTERVAL if args.poll_interval is None else args.poll_interval
    if not timeout > 0:
        raise UsageError(f"--timeout must be more than 0 seconds, got {timeout:g}")
    if not poll_interval > 0:
        raise UsageError(f"--poll-interval must be more than 0 seconds, got {poll_interval:g}")
    user_parameters = parse_key_values(args.param, what="--param")
    request = trigger.TriggerRequest(
        job=args.job.strip("/"),
        parameters=user_parameters,
        wait=args.wait or args.follow,
        follow=args.follow,
        timeout=timeout,
        poll_interval=poll_interval,
    )
    job_path(request.job)  # an empty --job is a usage error before anything is sent
    context_values = trigger.context_parameters(detect_context(environ, Path.cwd()))

    client = JenkinsClient(url, user=user, token=token)
    outcome = trigger.trigger_build(client, request, context_values, out=sys.stdout)
    if request.wait:
        print(redact(f"result: {outcome.result} ({outcome.build_url or outcome.queue_url})"), flush=True)
    if outcome.run_id:
        print(f"run-id={outcome.run_id}", flush=True)
    write_outputs(environ, trigger.github_output_values(outcome))
    if not request.wait:
        return int(ExitCode.OK)

    code = trigger.exit_code_for_result(outcome.result)
    if outcome.result == "CANCELLED":
        raise JenkinsError(f"the queue item {outcome.queue_url} was cancelled before a build started")
    if code == ExitCode.SERVICE:
        raise JenkinsError(f"build {outcome.build_url} ended {outcome.result}: it was stopped before it gave a verdict")
    return int(code)
