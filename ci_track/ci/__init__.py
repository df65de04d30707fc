"""Where this build came from: the CI providers (GitHub Actions, GitLab CI, Jenkins) and the local git repository."""
