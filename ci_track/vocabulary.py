"""The words and limits ci-track's parts share, named once (pure, standard library only).

The command line's choices, `.ci-track.yml`'s validation and the adapters take their lists from
here, so a new comment mode or champion strategy is added in one place. The GitHub Action's entry
script must run without ci_track, so it keeps copies that tests/unit/test_action_vocabulary.py
holds equal to these.
"""

from __future__ import annotations

# How the sticky PR comment is kept: edit ours, post a new one, delete ours on a pass, or never post.
COMMENT_MODES = ("update", "new", "delete-on-pass", "off")
FORGES = ("github", "gitlab", "bitbucket", "none")  # --forge / CI_TRACK_FORGE; none: publish nowhere
# How the champion is found on the base branch, tried in the configured order (tracking/champion.py).
CHAMPION_STRATEGIES = ("alias", "best", "latest")
# What the gate does without a champion, and with a configured metric the candidate lacks.
NO_CHAMPION_POLICIES = ("pass", "fail")
MISSING_POLICIES = ("fail", "warn")

# GitHub's limits: a comment (or check-run summary) body, and a commit status description.
COMMENT_LIMIT = 65536  # GitHub answers 422 "body is too long (maximum is 65536 characters)"
HEADLINE_LIMIT = 140  # GitHub's commit status description limit
