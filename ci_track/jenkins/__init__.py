"""Jenkins: `ci-track jenkins trigger` starts a job from another CI and follows it."""
