"""Pure tests: no server, no network, fast (real git repositories and files are fine)."""
