"""The merge gate, end to end: configuration -> candidate and champion -> comparison -> reports -> exit code.

`run_gate` does the reading (MLflow, git, environment) and returns a `GateOutcome`, a plain
value. On a pull request the rules are the base commit's (ci_track/gate/rules.py); a metric
whose rule aggregates its history (`aggregate: min` ...) costs one metrics/get-history request
per run (and per 25,000 values), `last` costs none. `GateOutcome.emit` writes the reports,
publishes to GitHub and returns the exit code.
If the champion cannot be read (server or auth error) a TrackingError propagates: the gate
fails closed with exit 3, never a pass.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

from ci_track.errors import ExitCode, TrackingError, UsageError


@dataclasses.dataclass(frozen=True, kw_only=True)
class GateOutcome:
    experiment: str
    comparison: Any  # ci_track.gate.comparison.Comparison
    config: Any  # ci_track.gate.config.Config
    context: Any  # ci_track.ci.detect.CIContext
    tracking_uri: str
    candidate_url: str
    champion_url: str | None
    rules: Any = None  # ci_track.gate.rules.RulesReport: where the rules came from, what the PR changes

    @property
    def exit_code(self) -> int:
        return int(self.comparison.exit_code(self.config.no_champion))

    def emit(self, args: argparse.Namespace, environ: Mapping[str, str], *, out: IO[str] = sys.stdout) -> int:
        from ci_track.ci import github_actions
        from ci_track.commands import _publish as publish
        from ci_track.report import console as report_console
        from ci_track.report import json_report as report_json
        from ci_track.report import markdown as report_markdown

        markdown = report_markdown.render_markdown(
            self.comparison,
            experiment=self.experiment,
            candidate_url=self.candidate_url,
            champion_url=self.champion_url,
            template_path=Path(args.template) if getattr(args, "template", None) else None,
            rules=self.rules,
        )
        json_text = report_json.render_json(
            self.comparison,
            experiment=self.experiment,
            candidate_url=self.candidate_url,
            champion_url=self.champion_url,
            extra=self.publication_fields(markdown),
            rules=self.rules,
        )
        rendered = {
            "table": lambda: report_console.render_table(self.comparison, rules=self.rules),
            "markdown": lambda: markdown,
            "json": lambda: json_text,
        }[args.format]()
        if args.output:
            publish.write_text(args.output, rendered)
        else:
            out.write(rendered.rstrip("\n") + "\n")
            out.flush()
        report_path = args.markdown_output
        if args.markdown_output:
            publish.write_text(args.markdown_output, markdown)
        if args.json_output:
            publish.write_text(args.json_output, json_text)

        passed = self.exit_code == 0
        publication = self.publication(markdown, passed)
        github_actions.write_step_summary(environ, markdown)
        github_actions.print_annotations(environ, publication.annotations)
        outputs = {
            "verdict": self.comparison.verdict,
            "regressions": str(len(self.comparison.failures)),
            "headline": self.comparison.headline,
        }
        if report_path:
            outputs["report-path"] = str(Path(report_path).resolve())
        comment_mode, post_status = self.publishing_choices(args, environ)
        outputs.update(
            publish.publish_to_github(
                publication,
                environ,
                comment_mode=comment_mode,
                post_status=post_status,
                post_check_run=bool(getattr(args, "check_run", False)),
            )
        )
        github_actions.write_outputs(environ, outputs)
        if args.no_gate:
            return int(ExitCode.OK)
        return self.exit_code

    def publication_fields(self, markdown: str) -> dict[str, Any]:
        return {
            "pr_number": self.context.pr_number,
            "repository": self.context.repository,
            "head_sha": self.comparison.candidate.head_sha or self.context.head_sha,
            "markdown": markdown,
            "gate_passed": self.exit_code == 0,
        }

    def publication(self, markdown: str, passed: bool) -> Any:
        from ci_track.commands._publish import Publication

        return Publication(
            experiment=self.experiment,
            markdown=markdown,
            headline=self.comparison.headline,
            verdict=self.comparison.verdict,
            passed=passed,
            repository=self.context.repository,
            pr_number=self.context.pr_number,
            head_sha=self.comparison.candidate.head_sha or self.context.head_sha,
            target_url=self.candidate_url,
            annotations=metric_annotations(self.comparison),
        )

    def publishing_choices(self, args: argparse.Namespace, environ: Mapping[str, str]) -> tuple[str, bool]:
        """Explicit choices win; by default comment and status only on a PR with a GitHub token at hand."""
        from ci_track.settings import has_github_token

        has_token = has_github_token(environ)
        on_github_pr = self.context.pr_number is not None and bool(self.context.repository) and has_token
        comment = self.config.comment or ("update" if on_github_pr else "off")
        status = self.config.status
        if status is None:
            status = on_github_pr
        return comment, bool(status)


def metric_annotations(comparison: Any) -> tuple[tuple[str, str], ...]:
    """One `::error::` per failed metric and one `::warning::` per warned one."""
    found = [("error", m.reason) for m in comparison.failures]
    found += [("warning", m.reason) for m in comparison.warnings]
    return tuple(found)


def run_gate(
    args: argparse.Namespace, environ: Mapping[str, str], cwd: Path, *, for_promotion: bool = False
) -> GateOutcome:
    """Read the rules, the candidate and the champion, and judge. `for_promotion`: the champion is the
    candidate's own branch's (the one `promote` would replace), never another branch's."""
    from ci_track.ci.detect import detect_context
    from ci_track.gate.comparison import compare
    from ci_track.gate.config import require_experiment
    from ci_track.gate.rules import load_gate_rules
    from ci_track.tracking.champion import find_candidate, find_champion, find_related_runs
    from ci_track.tracking.client import MlflowClient, TrackingSettings

    overrides = {
        "experiment": args.experiment,
        "base_branch": args.base_branch,
        "champion_strategy": args.champion_strategy,
        "champion_model": args.champion_model,
        "champion_alias": args.champion_alias,
        "champion_metric": args.champion_metric,
        "no_champion": args.no_champion,
        "missing": args.missing,
    }
    if hasattr(args, "comment"):
        overrides.update(comment=args.comment, status=args.status)
    context = detect_context(environ, cwd)
    rules = load_gate_rules(
        args.config,
        cwd=cwd,
        cli=overrides,
        environ=environ,
        context=context,
        rules_from_flag=getattr(args, "rules_from", None),
    )
    config = rules.config
    experiment_name = require_experiment(config)
    settings = TrackingSettings.from_env(environ, uri=args.tracking_uri)
    with MlflowClient(settings) as client:
        experiment = client.get_experiment_by_name(experiment_name)
        if experiment is None:
            raise UsageError(f"experiment {experiment_name!r} does not exist on {client.uri}")
        found = find_candidate(
            client,
            experiment.experiment_id,
            run_id=args.run_id,
            head_sha=context.head_sha,
            experiment_name=experiment_name,
        )
        candidate = found.run
        if for_promotion:
            base_branch = candidate.branch
            if args.base_branch and args.base_branch != base_branch:
                raise UsageError(
                    f"promote makes run {candidate.run_id} the champion of its own branch {base_branch!r}; "
                    f"--base-branch {args.base_branch!r} would move another branch's champion"
                )
        else:
            base_branch = (
                config.base_branch
                or context.base_branch
                or candidate.tags.get("ci.base_branch")
                or context.default_branch
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
                champion_run_id=args.champion_run_id,
            )
        except TrackingError as error:
            raise TrackingError(
                f"cannot read the champion, failing closed: {error}",
                url=error.url,
                status=error.status,
                error_code=error.error_code,
            ) from None
        related = find_related_runs(client, experiment.experiment_id, candidate)
        comparison = compare(
            with_aggregates(client, candidate, config),
            with_aggregates(client, choice.run, config) if choice else None,
            config,
            champion_source=choice.description if choice else None,
            notices=found.notes,
            related_runs=related,
        )
        return GateOutcome(
            experiment=experiment_name,
            comparison=comparison,
            config=config,
            context=context,
            tracking_uri=client.uri,
            candidate_url=client.run_url(experiment.experiment_id, candidate.run_id),
            champion_url=client.run_url(experiment.experiment_id, choice.run.run_id) if choice else None,
            rules=rules.report,
        )


def with_aggregates(client: Any, run: Any, config: Any) -> Any:
    """`run` with each metric whose rule aggregates its history replaced by that aggregate.

    Only metrics the run has and whose `aggregate` is not `last` are read (one history each), so
    the default costs no request. Both sides of the comparison go through here.
    """
    import dataclasses

    from ci_track.gate.aggregates import aggregate_history

    metrics = dict(run.metrics)
    for name, rule in config.metrics.items():
        if rule.aggregate == "last" or name not in metrics:
            continue
        value = aggregate_history(client.get_metric_history(run.run_id, name), rule.aggregate, allow_nan=rule.allow_nan)
        if value is not None:
            metrics[name] = value
    return dataclasses.replace(run, metrics=metrics)
