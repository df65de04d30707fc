"""`ci-track compare`: the merge gate. Candidate vs champion, reports everywhere, exit code from the verdict."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from ci_track.vocabulary import COMMENT_MODES, FORGES

if TYPE_CHECKING:
    from ci_track.gate.rules import GateRules

FORMATS = ("table", "markdown", "json")


HELP = "compare this commit's run with the base branch's champion and gate on regressions"
DESCRIPTION = (
    "Find the candidate run (--run-id, else the newest FINISHED run of the head commit) and the base "
    "branch's champion, compare their metrics under the rules of .ci-track.yml, report, and exit 1 on a "
    "regression."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_gate_arguments(parser)
    parser.add_argument("--format", choices=FORMATS, default="table", help="what to print on stdout (default: table)")
    parser.add_argument("--output", metavar="PATH", help="write the --format output to PATH instead of stdout")
    parser.add_argument("--markdown-output", metavar="PATH", help="also write the markdown report to PATH")
    parser.add_argument("--json-output", metavar="PATH", help="also write the JSON report to PATH")
    parser.add_argument(
        "--junit-output", metavar="PATH", help="also write a JUnit XML report to PATH (one test case per gated metric)"
    )
    parser.add_argument(
        "--gitlab-metrics-output",
        metavar="PATH",
        help="also write the candidate's metrics to PATH in GitLab's artifacts:reports:metrics format",
    )
    parser.add_argument("--template", metavar="PATH", help="Jinja2 template for the markdown report")
    parser.add_argument("--no-gate", action="store_true", help="report only: exit 0 even on a regression")
    parser.add_argument(
        "--comment",
        choices=COMMENT_MODES,
        help="sticky PR comment mode (default: .ci-track.yml, else update on a PR with a forge token, else off)",
    )
    add_forge_argument(parser)
    status = parser.add_mutually_exclusive_group()
    status.add_argument("--status", dest="status", action="store_true", default=None, help="set a commit status")
    status.add_argument("--no-status", dest="status", action="store_false", help="do not set a commit status")
    parser.add_argument(
        "--check-run", action="store_true", help="also create a check run carrying the markdown report (checks: write)"
    )
    parser.add_argument(
        "--key",
        metavar="KEY",
        help="the report's key: its sticky comment and the status context ci-track/KEY (default: report.key, "
        "else the experiment); give each job of a matrix sharing an experiment its own",
    )
    parser.add_argument(
        "--no-charts", action="store_true", help="no trend charts or training curves in the report (report.charts)"
    )


def add_forge_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--forge",
        choices=FORGES,
        help="where to post the comment and status (default: CI_TRACK_FORGE, else the CI's forge; none: nowhere)",
    )


def add_gate_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments `compare` and `promote` share."""
    parser.add_argument("--run-id", help="the candidate run (default: newest FINISHED run of the head commit)")
    parser.add_argument("--champion-run-id", help="compare with this run instead of looking for the champion")
    parser.add_argument("--config", metavar="PATH", help="configuration file (default: .ci-track.yml)")
    parser.add_argument("--experiment", help="experiment name (else CI_TRACK_EXPERIMENT, .ci-track.yml)")
    parser.add_argument("--base-branch", help="the branch whose champion to compare with (default: the PR's base)")
    parser.add_argument("--tracking-uri", help="MLflow tracking server (default: MLFLOW_TRACKING_URI)")
    parser.add_argument("--champion-strategy", metavar="LIST", help="comma list of alias,best,latest (tried in order)")
    parser.add_argument("--champion-model", metavar="NAME", help="registered model whose alias names the champion")
    parser.add_argument("--champion-alias", metavar="ALIAS", help="the registry alias (default: champion)")
    parser.add_argument("--champion-metric", metavar="METRIC", help="the metric the `best` strategy ranks by")
    parser.add_argument("--no-champion", choices=("pass", "fail"), help="verdict when no champion is found")
    parser.add_argument("--missing", choices=("fail", "warn"), help="a configured metric absent from the run")
    parser.add_argument(
        "--override-label",
        metavar="LABEL",
        help="PR label that accepts a regression (default: ci-track:accept-regression; read from the event payload)",
    )
    parser.add_argument(
        "--rules-from",
        choices=("base", "head"),
        help="on a pull request, gate on the base commit's .ci-track.yml (default) or the PR's own "
        "(else CI_TRACK_RULES_FROM, else rules_from in the base commit's file)",
    )


def main(args: argparse.Namespace) -> int:
    from ci_track.commands._gate import GateRequest, ReportRequest, emit, prepare_gate, run_gate
    from ci_track.commands._publish import choose_forge
    from ci_track.settings import TrackingSettings, environment
    from ci_track.tracking.client import MlflowClient

    environ = environment()
    request = GateRequest.from_args(args)
    context, rules = prepare_gate(request, environ, Path.cwd())
    # chosen once: the charts' default and the publishing both follow it
    forge = choose_forge(environ, context.provider, flag=args.forge, repo_url=context.repo_url)
    rules = _with_charts_decided(rules, forge)
    with MlflowClient(TrackingSettings.from_env(environ, uri=request.tracking_uri)) as client:
        outcome = run_gate(client, request, context, rules)
        if outcome.config.report.charts:
            import dataclasses

            from ci_track.commands._charts import gather_charts

            outcome = dataclasses.replace(outcome, charts=gather_charts(client, outcome))
    return emit(outcome, ReportRequest.from_args(args), environ, forge=forge, out=sys.stdout)


def _with_charts_decided(rules: GateRules, forge: str) -> GateRules:
    """The rules with `report.charts` decided: as set, else on unless `forge` is Bitbucket, whose comments
    show a Mermaid block as code (GitHub and GitLab draw it)."""
    import dataclasses

    report = rules.config.report
    if report.charts is not None:
        return rules
    config = dataclasses.replace(rules.config, report=dataclasses.replace(report, charts=report.charts_for(forge)))
    return dataclasses.replace(rules, config=config)
