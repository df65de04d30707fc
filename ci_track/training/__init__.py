"""The training command: MLproject entry points and the metrics files it writes."""
