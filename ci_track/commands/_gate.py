"""The merge gate, end to end, for `compare` and `promote`: rules -> candidate and champion -> comparison -> reports.

The command turns its arguments into a `GateRequest` and a `ReportRequest` (the only place the
argparse Namespace is read), `prepare_gate` reads the CI context and the rules (on a pull request
the base commit's, ci_track/gate/rules.py), the command opens the one MLflow client, and
`run_gate` finds the candidate and the champion and judges: a plain `GateOutcome`. A metric whose
rule aggregates its history (`aggregate: min` ...) costs one metrics/get-history request per run
(and per 25,000 values), `last` costs none. `emit` renders the reports, writes them, publishes
what gate/decision.py decided and returns the exit code.
If the champion cannot be read (server or auth error) a TrackingError propagates: the gate
fails closed with exit 3, never a pass.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from ci_track.errors import TrackingError, UsageError

if TYPE_CHECKING:
    from ci_track.ci.context import CIContext
    from ci_track.gate.config import Config
    from ci_track.gate.noise_gate import NoiseEvidence
    from ci_track.gate.results import Comparison
    from ci_track.gate.rules import GateRules, RulesReport
    from ci_track.report.charts import ChartData
    from ci_track.tracking.client import MlflowClient
    from ci_track.tracking.runs import Run


@dataclasses.dataclass(frozen=True, kw_only=True)
class GateRequest:
    """What the command line asks of the gate."""

    config_path: str | None
    overrides: Mapping[str, Any]  # the flags that override .ci-track.yml (None: not given)
    rules_from: str | None = None
    run_id: str | None = None
    champion_run_id: str | None = None
    base_branch: str | None = None
    tracking_uri: str | None = None

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> GateRequest:
        return cls(
            config_path=args.config,
            overrides={
                "experiment": args.experiment,
                "base_branch": args.base_branch,
                "champion_strategy": args.champion_strategy,
                "champion_model": args.champion_model,
                "champion_alias": args.champion_alias,
                "champion_metric": args.champion_metric,
                "no_champion": args.no_champion,
                "missing": args.missing,
                "comment": args.comment,
                "status": args.status,
                "override_label": args.override_label,
                "key": getattr(args, "key", None),  # compare only
                "charts": False if getattr(args, "no_charts", False) else None,
            },
            rules_from=args.rules_from,
            run_id=args.run_id,
            champion_run_id=args.champion_run_id,
            base_branch=args.base_branch,
            tracking_uri=args.tracking_uri,
        )


@dataclasses.dataclass(frozen=True, kw_only=True)
class ReportRequest:
    """Where `compare` writes its reports and what it publishes besides."""

    format: str = "table"
    output: str | None = None
    markdown_output: str | None = None
    json_output: str | None = None
    template: str | None = None
    no_gate: bool = False
    check_run: bool = False
    junit_output: str | None = None
    gitlab_metrics_output: str | None = None

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> ReportRequest:
        """Each field from the `compare` flag of the same name."""
        return cls(**{field.name: getattr(args, field.name) for field in dataclasses.fields(cls)})


@dataclasses.dataclass(frozen=True, kw_only=True)
class GateOutcome:
    experiment: str
    comparison: Comparison
    config: Config
    context: CIContext
    candidate_url: str
    champion_url: str | None
    rules: RulesReport | None = None  # where the rules came from, what the PR changes
    evidence: NoiseEvidence | None = None  # the runs' values the noise-aware gate judged (gate/noise_gate.py)
    history: tuple[Run, ...] = ()  # the base branch's last complete runs, when read (noise or charts)
    charts: ChartData | None = None  # what the report's charts show (commands/_charts.py); None: no charts

    @property
    def exit_code(self) -> int:
        from ci_track.gate.decision import gate_exit_code

        return gate_exit_code(self.comparison, self.config)


def prepare_gate(request: GateRequest, environ: Mapping[str, str], cwd: Path) -> tuple[CIContext, GateRules]:
    """The build's context and the rules it is gated on; errors here come before any request to MLflow."""
    from ci_track.ci.detect import detect_context
    from ci_track.gate.config import require_experiment
    from ci_track.gate.rules import load_gate_rules

    context = detect_context(environ, cwd, merge_base=False)  # base_sha: read on pull requests only
    rules = load_gate_rules(
        request.config_path,
        cwd=cwd,
        cli=request.overrides,
        environ=environ,
        context=context,
        rules_from_flag=request.rules_from,
    )
    require_experiment(rules.config)
    return context, rules


def run_gate(
    client: MlflowClient, request: GateRequest, context: CIContext, rules: GateRules, *, for_promotion: bool = False
) -> GateOutcome:
    """Find the candidate and the champion, and judge. `for_promotion`: the champion is the candidate's own
    branch's (the one `promote` would replace), never another branch's."""
    from ci_track.gate.comparison import compare
    from ci_track.gate.config import require_experiment
    from ci_track.tracking.candidate import find_candidate, find_related_runs
    from ci_track.tracking.champion import find_champion

    config = rules.config
    experiment_name = require_experiment(config)
    experiment = client.get_experiment_by_name(experiment_name)
    if experiment is None:
        raise UsageError(f"experiment {experiment_name!r} does not exist on {client.uri}")
    found = find_candidate(
        client,
        experiment.experiment_id,
        run_id=request.run_id,
        head_sha=context.head_sha,
        experiment_name=experiment_name,
        key=config.report.key,
    )
    candidate = found.run
    if for_promotion:
        base_branch = candidate.branch
        if request.base_branch and request.base_branch != base_branch:
            raise UsageError(
                f"promote makes run {candidate.run_id} the champion of its own branch {base_branch!r}; "
                f"--base-branch {request.base_branch!r} would move another branch's champion"
            )
    else:
        base_branch = (
            config.base_branch or context.base_branch or candidate.tags.get("ci.base_branch") or context.default_branch
        )
    metric = config.champion.metric
    try:
        choice = find_champion(
            client,
            experiment.experiment_id,
            candidate=candidate,
            strategies=config.champion.strategy,
            base_branch=base_branch,
            default_branch=context.default_branch,
            model=config.champion.model,
            alias=config.champion.alias,
            metric=metric,
            metric_goal=config.metric_goal(metric),
            champion_run_id=request.champion_run_id,
            key=config.report.key,
        )
    except TrackingError as error:
        raise TrackingError(
            f"cannot read the champion, failing closed: {error}",
            url=error.url,
            status=error.status,
            error_code=error.error_code,
        ) from None
    related = find_related_runs(client, experiment.experiment_id, candidate)
    from ci_track.tracking.history import gather_evidence
    from ci_track.tracking.reuse import reuse_notes

    noise = gather_evidence(  # repeat groups, base-branch history, recent champions: bounded searches
        client,
        experiment.experiment_id,
        config,
        candidate,
        choice.run if choice else None,
        base_branch,
        prepare=lambda run: with_aggregates(client, run, config),
        with_history=bool(config.report.charts) and not for_promotion,  # the trend charts: the same one search
    )
    comparison = compare(
        noise.candidate,
        noise.champion,
        config,
        champion_source=choice.description if choice else None,
        notices=(*found.notes, *reuse_notes(client, experiment.experiment_id, candidate), *noise.notes),
        related_runs=related,
        evidence=noise.evidence,
    )
    from ci_track.gate.override import apply_override, override_state
    from ci_track.tracking.override import now_iso, record_override

    override = override_state(context, config.override_label, now=now_iso())  # the PR's labels, from the payload
    comparison = apply_override(comparison, override)
    if not for_promotion:
        record_override(client, noise.candidate, override, accepted=comparison.accepted is not None)
    return GateOutcome(
        experiment=experiment_name,
        comparison=comparison,
        config=config,
        context=context,
        candidate_url=client.run_url(experiment.experiment_id, candidate.run_id),
        champion_url=client.run_url(experiment.experiment_id, choice.run.run_id) if choice else None,
        rules=rules.report,
        evidence=noise.evidence,
        history=noise.history,
    )


def with_aggregates(client: MlflowClient, run: Run, config: Config) -> Run:
    """`run` with each metric whose rule aggregates its history replaced by that aggregate.

    Only metrics the run has and whose `aggregate` is not `last` are read (one history each), so
    the default costs no request. Both sides of the comparison go through here.
    """
    from ci_track.gate.aggregates import aggregate_history

    metrics = dict(run.metrics)
    for name, rule in config.metrics.items():
        if rule.aggregate == "last" or name not in metrics:
            continue
        value = aggregate_history(client.get_metric_history(run.run_id, name), rule.aggregate, allow_nan=rule.allow_nan)
        if value is not None:
            metrics[name] = value
    return dataclasses.replace(run, metrics=metrics)


def emit(
    outcome: GateOutcome, report: ReportRequest, environ: Mapping[str, str], *, forge: str, out: IO[str] = sys.stdout
) -> int:
    """Render the reports, write them where asked, publish what the gate decided to `forge` (the command
    chose it: commands/_publish.choose_forge); the command's exit code."""
    from ci_track.ci import github_actions
    from ci_track.commands._publish import Publication, publish_to_forge, write_text
    from ci_track.gate.decision import decide
    from ci_track.settings import has_forge_token

    comparison = outcome.comparison
    decision = decide(
        comparison,
        outcome.config,
        outcome.context,
        has_token=has_forge_token(environ, forge),
        no_gate=report.no_gate,
        check_run=report.check_run,
    )
    if not has_forge_token(environ, forge) and outcome.config.comment is None and outcome.config.status is None:
        from ci_track.commands._publish import note_missing_token

        note_missing_token(environ, forge, is_pull_request=outcome.context.is_pull_request)
    head_sha = comparison.candidate.head_sha or outcome.context.head_sha
    key = outcome.config.report_key or outcome.experiment
    # Jinja2 and the template cost a tenth of a second: render only when something will show the markdown.
    needed = _needs_markdown(outcome, report, environ, decision)
    markdown = _render_markdown(outcome, report, key=key, head_sha=head_sha) if needed else ""
    if report.format == "markdown":
        rendered = markdown
    elif report.format == "json":
        rendered = _render_json(outcome, markdown, passed=decision.passed, head_sha=head_sha)
    else:
        from ci_track.report.console import render_table

        rendered = render_table(comparison, rules=outcome.rules, charts=outcome.charts)
    if report.output:
        write_text(report.output, rendered)
    else:
        out.write(rendered.rstrip("\n") + "\n")
        out.flush()
    if report.markdown_output:
        write_text(report.markdown_output, markdown)
    if report.json_output:
        write_text(report.json_output, _render_json(outcome, markdown, passed=decision.passed, head_sha=head_sha))
    _write_ci_reports(outcome, report, passed=decision.passed)

    github_actions.write_step_summary(environ, markdown)
    github_actions.print_annotations(environ, decision.annotations)
    outputs = dict(decision.outputs)
    if report.markdown_output:
        outputs["report-path"] = str(Path(report.markdown_output).resolve())
    publication = Publication(
        experiment=outcome.experiment,
        key=key,
        markdown=markdown,
        headline=comparison.headline,
        verdict=comparison.verdict,
        passed=decision.passed,
        repository=outcome.context.repository,
        pr_number=outcome.context.pr_number,
        head_sha=head_sha,
        target_url=outcome.candidate_url,
        annotations=decision.annotations,
        forge=forge,
        build_url=outcome.context.build_url,
    )
    outputs.update(
        publish_to_forge(
            publication,
            environ,
            comment_mode=decision.comment_mode,
            post_status=decision.post_status,
            post_check_run=decision.post_check_run,
        )
    )
    github_actions.write_outputs(environ, outputs)
    return decision.exit_code


def _write_ci_reports(outcome: GateOutcome, report: ReportRequest, *, passed: bool) -> None:
    """--junit-output and --gitlab-metrics-output: the reports CI systems show themselves."""
    from ci_track.commands._publish import write_text

    if report.junit_output:
        from ci_track.report.junit import render_junit

        write_text(report.junit_output, render_junit(outcome.comparison, experiment=outcome.experiment, passed=passed))
    if report.gitlab_metrics_output:
        from ci_track.report.gitlab_metrics import render_gitlab_metrics

        write_text(report.gitlab_metrics_output, render_gitlab_metrics(outcome.comparison))


def _needs_markdown(outcome: GateOutcome, report: ReportRequest, environ: Mapping[str, str], decision: Any) -> bool:
    """Whether any output of this invocation holds the markdown report (a --template is always checked)."""
    asked = report.format != "table" or bool(report.markdown_output or report.json_output or report.template)
    commented = decision.comment_mode != "off" and outcome.context.pr_number is not None
    return asked or bool(environ.get("GITHUB_STEP_SUMMARY")) or commented or decision.post_check_run


def _render_markdown(outcome: GateOutcome, report: ReportRequest, *, key: str, head_sha: str | None) -> str:
    from ci_track.report.markdown import render_markdown
    from ci_track.report.metadata import ReportMeta

    meta = ReportMeta(
        key=key,
        run_id=outcome.comparison.candidate.run_id,
        head_sha=head_sha,
        build=outcome.context.build_id,
        attempt=outcome.context.run_attempt,
        job=outcome.context.job_name,
    )
    return render_markdown(
        outcome.comparison,
        experiment=outcome.experiment,
        candidate_url=outcome.candidate_url,
        champion_url=outcome.champion_url,
        template_path=Path(report.template) if report.template else None,
        rules=outcome.rules,
        charts=outcome.charts,
        key=key,
        meta=meta.comment(),
    )


def _render_json(outcome: GateOutcome, markdown: str, *, passed: bool, head_sha: str | None) -> str:
    from ci_track.report.json_report import render_json

    return render_json(
        outcome.comparison,
        experiment=outcome.experiment,
        candidate_url=outcome.candidate_url,
        champion_url=outcome.champion_url,
        charts=outcome.charts,
        extra={
            "key": outcome.config.report_key or outcome.experiment,
            "pr_number": outcome.context.pr_number,
            "repository": outcome.context.repository,
            "head_sha": head_sha,
            "markdown": markdown,
            "gate_passed": passed,
        },
        rules=outcome.rules,
    )
