"""The merge gate, pure: the rules (.ci-track.yml), the comparison, the aggregates, the decision. No I/O."""
