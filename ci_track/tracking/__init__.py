"""MLflow: the REST client, the runs, the champion, promotion, the spool and the run tags."""
