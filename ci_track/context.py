"""Where this build came from: one provider-independent `CIContext`, built from the environment.

Detection order: GitHub Actions (GITHUB_ACTIONS=true), GitLab CI (GITLAB_CI=true), Jenkins
(JENKINS_URL or BUILD_URL with JENKINS_HOME), otherwise the local git repository.
`detect_context(environ, cwd)` is the only entry point; it never reaches the network.
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True, kw_only=True)
class CIContext:
    provider: str  # "github-actions" | "gitlab" | "jenkins" | "local"
    event: str  # "pull_request" | "push" | "schedule" | "workflow_dispatch" | "merge_group" | "manual" ...
    head_sha: str | None  # the commit the author wrote (PR head), never a synthetic merge commit
    merge_sha: str | None = None  # the synthetic merge commit the CI checked out, when there is one
    branch: str | None = None  # head branch (PR source branch on PRs), None on a detached tag build
    base_branch: str | None = None  # PR target branch; on pushes the repository's default branch if known
    base_sha: str | None = None  # merge-base of head and base branch (or the provider's best equivalent)
    pr_number: int | None = None
    pr_title: str | None = None  # untrusted: never put it in a shell or unescaped markdown
    is_fork: bool = False  # PR from another repository (read-only token on GitHub)
    repository: str | None = None  # "owner/name" on GitHub/GitLab, when known
    repo_url: str | None = None  # browsable URL, credentials stripped
    server_url: str | None = None  # e.g. https://github.com
    api_url: str | None = None  # e.g. https://api.github.com (GitHub Enterprise differs)
    build_url: str | None = None
    build_id: str | None = None
    run_attempt: str | None = None
    default_branch: str | None = None
    actor: str | None = None
    dirty: bool | None = None  # local only: uncommitted changes in the work tree

    @property
    def is_pull_request(self) -> bool:
        return self.pr_number is not None
