"""Against real parts: the MLflow server fixture, the fakes of tests/fakes/, real subprocesses."""
