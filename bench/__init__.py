"""ci-track benchmarks: `bench/run` runs them all and writes bench/RESULTS.md (see bench/README.md)."""
