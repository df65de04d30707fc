"""Which `.ci-track.yml` the gate obeys, and what a pull request changes in it.

A pull request's checkout holds the PR's own `.ci-track.yml`, so the change under review could
loosen its own gate (`max_regression: "100%"`, `severity: info`) and pass. On a pull request (or a
GitHub merge-queue build) the gating rules are therefore the **base commit's** version of the file,
read from git (`git cat-file blob <sha>:<path>`); the base commit is the base side (first parent)
of the merge commit the CI checked out, which is the base branch's tip the merged result will live
under, else the context's `base_sha` (the merge-base of head and base, see ci_track/ci/detect.py).
When the clone lacks it (a shallow checkout), the gate fails closed
with exit 2 and says which checkout option to change.

Gating settings (from the base): `experiment`, `base_branch`, `champion`, `no_champion`,
`metrics` (every rule: goal, max_regression, min/max, severity, allow_nan, aggregate),
`missing`, `rules_from`, `override_label`, `promote`. The others come from the PR's checkout,
because they decide how the verdict is published, not what it is: `comment`, `status`, `report`
(the key and the charts), `run` (tags and metrics files of `ci-track run`). The experiment is
gating (a PR could point the gate at an experiment with a weak champion);
only when nothing else names one (neither the base's file, nor a flag, nor
CI_TRACK_EXPERIMENT or MLFLOW_EXPERIMENT_NAME) is the PR's `experiment:` used, which is the case
of the PR that adds ci-track: a base without a file has no rules to protect.

The opt-out: `rules_from: head` in the **base** commit's file (the PR's own value is ignored, or
a PR could opt itself out), or `--rules-from head` / `CI_TRACK_RULES_FROM=head` from whoever owns
the CI configuration; `base` there forces the base's rules over a base file that says `head`.

A base commit without the file means the defaults (a PR that adds `.ci-track.yml` gates on
nothing yet). `--config PATH` inside the repository is read at the base commit too; a PATH
outside the repository cannot be changed by the PR and is used as it is. Not on a PR (push,
schedule, local runs) the checkout's file is the rules, as always.

When the PR changes the gating rules, `RulesReport.changes` lists them (only what differs:
changed, added and removed metric rules, changed settings) for the reports to show at the top.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ci_track.errors import ConfigError, ContextError
from ci_track.gate.config import CONFIG_NAMES, RULES_FROM, ChampionConfig, Config, MetricRule, load_config, parse_config
from ci_track.gate.overrides import apply_overrides

if TYPE_CHECKING:
    from ci_track.ci.context import CIContext
    from ci_track.ci.git import Repo

RULES_FROM_VARIABLE = "CI_TRACK_RULES_FROM"
GATING_SETTINGS = (
    "experiment",
    "base_branch",
    "rules_from",
    "missing",
    "no_champion",
    "champion",
    "override_label",  # a PR must not rename the override to a label it already has
)


@dataclasses.dataclass(frozen=True, kw_only=True)
class RuleDiff:
    """One difference between the base's and the PR's gating rules; None: absent on that side."""

    kind: str  # "metric" | "setting"
    name: str
    base: str | None
    head: str | None


@dataclasses.dataclass(frozen=True, kw_only=True)
class RulesReport:
    """Where the gate's rules came from, and what the PR changes in them."""

    source: str  # "checkout" (not a PR) | "base" | "head" (rules_from: head) | "fixed" (--config outside the repo)
    file: str | None = None  # the configuration file, as shown
    base_sha: str | None = None  # the commit the base rules were read from
    chosen_by: str | None = None  # for source "head": `rules_from: head` in the base file, the flag or the variable
    changes: tuple[RuleDiff, ...] = ()

    @property
    def changed(self) -> bool:
        return bool(self.changes)

    @property
    def summary(self) -> str:
        """One sentence for the top of every report (plain text, no markup)."""
        name = self.file or CONFIG_NAMES[0]
        short = (self.base_sha or "")[:7]
        if self.source == "base":
            if self.changed:
                return (
                    f"This pull request changes the gating rules in {name}: the gate used the base commit's "
                    f"rules ({short}); the new rules apply after the merge."
                )
            return f"Gating rules from the base commit ({short})."
        if self.source == "head":
            changed = f"This pull request changes the gating rules in {name}; " if self.changed else ""
            return f"{changed}the gate used the pull request's own rules ({self.chosen_by})."
        if self.source == "fixed":
            return f"Gating rules from {name}, outside the repository."
        if self.file is None:
            return "No configuration file: the default rules."
        return f"Gating rules from {name} in the checkout."

    def as_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "file": self.file,
            "base_sha": self.base_sha,
            "chosen_by": self.chosen_by,
            "changed": self.changed,
            "summary": self.summary,
            "changes": [dataclasses.asdict(change) for change in self.changes],
        }


@dataclasses.dataclass(frozen=True, kw_only=True)
class GateRules:
    config: Config  # the rules in force, overrides applied
    report: RulesReport


# ---------------------------------------------------------------- the rules in force


def load_gate_rules(
    config_path: str | None,
    *,
    cwd: Path,
    cli: Mapping[str, Any],
    environ: Mapping[str, str],
    context: CIContext,
    rules_from_flag: str | None = None,
) -> GateRules:
    """The configuration the gate obeys (see the module docstring) and where it came from."""
    path = Path(config_path) if config_path else None
    head = load_config(path, cwd=cwd)
    shown = head.source  # None: no file, the defaults
    if not is_review_build(context):
        return GateRules(config=apply_overrides(head, cli, environ), report=RulesReport(source="checkout", file=shown))

    forced, forced_by = _forced_choice(rules_from_flag, environ)
    try:
        base, base_sha, kind = _base_rules(path, cwd=cwd, context=context, head=head, environ=environ)
    except (ContextError, ConfigError):
        if forced != "head":
            raise
        # The CI owner chose the PR's rules: a clone too shallow (or a base file too broken) to show
        # the change is no reason to stop.
        return GateRules(
            config=apply_overrides(head, cli, environ),
            report=RulesReport(source="head", file=shown, chosen_by=forced_by),
        )
    if kind != "base":  # "fixed": outside the repository; "checkout": no repository and no file at all
        return GateRules(config=apply_overrides(head, cli, environ), report=RulesReport(source=kind, file=shown))

    changes = diff_rules(base, head)
    use_head, chosen_by = (forced == "head", forced_by) if forced else (base.rules_from == "head", "rules_from: head")
    if use_head:
        report = RulesReport(source="head", file=shown, base_sha=base_sha, chosen_by=chosen_by, changes=changes)
        return GateRules(config=apply_overrides(head, cli, environ), report=report)

    merged = dataclasses.replace(base, comment=head.comment, status=head.status, run=head.run, report=head.report)
    config = apply_overrides(merged, cli, environ)
    if config.experiment is None and head.experiment:
        config = dataclasses.replace(config, experiment=head.experiment)  # the PR that adds ci-track
    return GateRules(config=config, report=RulesReport(source="base", file=shown, base_sha=base_sha, changes=changes))


def is_review_build(context: CIContext) -> bool:
    """A pull request, or a merge-queue build of one: the checkout holds the change under review."""
    return context.is_pull_request or context.event == "merge_group"


def _forced_choice(flag: str | None, environ: Mapping[str, str]) -> tuple[str | None, str | None]:
    """(base | head | None, where it came from) from --rules-from, else CI_TRACK_RULES_FROM."""
    if flag:
        return flag, f"--rules-from {flag}"
    text = environ.get(RULES_FROM_VARIABLE, "").strip().lower()
    if not text:
        return None, None
    if text not in RULES_FROM:
        raise ConfigError(f"{RULES_FROM_VARIABLE} must be one of {', '.join(RULES_FROM)}, got {text!r}")
    return text, f"{RULES_FROM_VARIABLE}={text}"


def _base_rules(
    path: Path | None, *, cwd: Path, context: CIContext, head: Config, environ: Mapping[str, str]
) -> tuple[Config, str | None, str]:
    """(the base commit's configuration, its commit, "base"); "fixed" for a file outside the repository."""
    from ci_track.ci import git as git_repo

    repo = git_repo.open_repo(cwd, environ)
    if repo is None:
        if path is None and head.source is None:
            return head, None, "checkout"  # no repository and no file: nothing from the PR to distrust
        raise ContextError(
            f"this is a pull request build, so the gate reads its rules from the base commit, but {cwd} is not "
            f"in a git repository: check out the repository with its history, or set {RULES_FROM_VARIABLE}=head "
            "to gate on the checkout's rules"
        )
    top = git_repo.work_tree(repo)
    if path is not None and path.is_absolute() and top is not None and not _inside(path, top):
        return head, None, "fixed"
    base_sha = _base_commit(repo, context)
    return _config_at(repo, base_sha, path, cwd=cwd, top=top), base_sha, "base"


def _inside(path: Path, top: Path) -> bool:
    try:
        path.resolve().relative_to(top)
    except ValueError:
        return False
    return True


def _base_commit(repo: Repo, context: CIContext) -> str:
    from ci_track.ci import git as git_repo

    # The base side of the merge commit the CI checked out comes first: it is the base branch's tip,
    # whose rules the merged result will live under (a merge-base may predate a tightening of them).
    candidates: list[str] = []
    if context.merge_sha:
        parents = git_repo.parents(repo, context.merge_sha)
        if parents:
            candidates.append(parents[0])
    if context.base_sha and context.base_sha not in candidates:
        candidates.append(context.base_sha)
    for sha in candidates:
        if git_repo.has_commit(repo, sha):
            return sha
    if not candidates:
        raise ContextError(
            f"cannot tell this pull request's base commit, so the gate cannot read the base branch's rules: "
            f"{fetch_hint(context, shallow=git_repo.is_shallow(repo))}"
        )
    shallow = "this clone is shallow and lacks" if git_repo.is_shallow(repo) else "this clone lacks"
    raise ContextError(
        f"{shallow} the base commit {candidates[0][:12]}, so the gate cannot read the base branch's rules "
        f"(a pull request must not judge itself by its own .ci-track.yml): {fetch_hint(context, shallow=True)}"
    )


def fetch_hint(context: CIContext, *, shallow: bool) -> str:
    """What to change in the CI configuration so the clone has the base commit."""
    provider = context.provider
    if provider == "github-actions":
        hint = "set `fetch-depth: 0` (or 2 for the merge commit of a pull_request event) on actions/checkout"
    elif provider == "gitlab":
        hint = "set `GIT_DEPTH: 0` in the job's variables (or a depth that reaches the merge-base)"
    elif provider == "bitbucket":
        hint = "set `clone: depth: full` on the step (or the whole pipeline)"
    elif provider == "jenkins":
        hint = (
            "turn off the shallow clone in the job's checkout (Advanced clone behaviours, or "
            "`cloneOption(shallow: false)`), and fetch the target branch"
        )
    else:
        hint = "`git fetch --unshallow` (or fetch the base branch)" if shallow else "fetch the base branch"
    return f"{hint}; or set {RULES_FROM_VARIABLE}=head to gate on the pull request's own rules"


def _config_at(repo: Repo, sha: str, path: Path | None, *, cwd: Path, top: Path | None) -> Config:
    """The configuration in commit `sha`: the same file the checkout would use, or the defaults."""
    from ci_track.ci import git as git_repo

    if top is None:
        raise ContextError("the repository has no working tree: cannot tell where .ci-track.yml lives")
    directory = cwd.resolve()
    if path is not None:
        full = path if path.is_absolute() else cwd / path
        names = [_relative(full.resolve(), top)]
    else:
        names = [_relative(directory / name, top) for name in CONFIG_NAMES]
    found = [(name, data) for name in names if name and (data := git_repo.file_at(repo, sha, name)) is not None]
    if len(found) > 1:
        raise ConfigError(f"the base commit {sha[:7]} has both {CONFIG_NAMES[0]} and {CONFIG_NAMES[1]}: keep one")
    if not found:
        return Config()
    name, data = found[0]
    shown = f"{name}@{sha[:7]}"
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ConfigError(f"{shown}: not UTF-8 text ({error.reason} at byte {error.start})") from None
    return parse_config(text, source=shown)


def _relative(path: Path, top: Path) -> str | None:
    try:
        return path.relative_to(top).as_posix()
    except ValueError:
        return None


# ---------------------------------------------------------------- the difference


def diff_rules(base: Config, head: Config) -> tuple[RuleDiff, ...]:
    """What the PR changes in the gating rules: settings, then metric rules (changed, added, removed)."""
    changes = [
        RuleDiff(kind="setting", name=name, base=old, head=new)
        for name in GATING_SETTINGS
        if (old := describe_setting(base, name)) != (new := describe_setting(head, name))
    ]
    for name, rule in head.metrics.items():
        old_rule = base.metrics.get(name)
        if old_rule is None:
            changes.append(RuleDiff(kind="metric", name=name, base=None, head=describe_rule(rule)))
        elif _rule_key(old_rule) != _rule_key(rule):
            changes.append(RuleDiff(kind="metric", name=name, base=describe_rule(old_rule), head=describe_rule(rule)))
    for name, rule in base.metrics.items():
        if name not in head.metrics:
            changes.append(RuleDiff(kind="metric", name=name, base=describe_rule(rule), head=None))
    return tuple(changes)


def _rule_key(rule: MetricRule) -> tuple[Any, ...]:
    return tuple(getattr(rule, field.name) for field in dataclasses.fields(rule))


def describe_rule(rule: MetricRule) -> str:
    """`goal: minimize, max_regression: 2%, severity: fail`: every field that is set, defaults left out."""
    parts = []
    if rule.goal:
        parts.append(f"goal: {rule.goal}")
    if rule.noise is not None:
        parts.append(f"max_regression: {rule.noise.describe()}")
    elif rule.tolerance_kind == "relative":
        parts.append(f"max_regression: {rule.tolerance:g}%")
    elif rule.tolerance_kind == "absolute":
        parts.append(f"max_regression: {rule.tolerance:g}")
    if rule.min is not None:
        parts.append(f"min: {rule.min:g}")
    if rule.max is not None:
        parts.append(f"max: {rule.max:g}")
    parts.append(f"severity: {rule.severity}")
    if rule.aggregate != "last":
        parts.append(f"aggregate: {rule.aggregate}")
    if rule.max_drift is not None:
        parts.append(f"max_drift: {rule.max_drift.describe()}")
    if rule.allow_nan:
        parts.append("allow_nan: true")
    return ", ".join(parts)


def describe_setting(config: Config, name: str) -> str | None:
    """A gating setting in words; None when it is not set (no default of its own)."""
    if name == "champion":
        return _describe_champion(config.champion)
    if name == "rules_from":
        return config.rules_from or "base"
    value = getattr(config, name)
    if value is None:
        return None
    return str(value)


def _describe_champion(champion: ChampionConfig) -> str:
    parts = [f"strategy: {', '.join(champion.strategy)}"]
    if champion.metric:
        parts.append(f"metric: {champion.metric}")
    if champion.model:
        parts.append(f"model: {champion.model}")
    parts.append(f"alias: {champion.alias}")
    return "; ".join(parts)
