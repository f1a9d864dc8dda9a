"""Serving: the MLflow UI on a study's store (`ui`) and the shared tracking server a cluster writes to
(`server`)."""
