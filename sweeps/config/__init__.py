"""Configuration: a study's Hydra configs composed into plain, validated values.

It owns where the configs are (`locations`, the built-in `conf/`), how a study and its overrides are
composed (`compose`), the schema every trial's settings are checked against before anything starts
(`schema`), and the search grammar turned into plain search spaces (`search_space`). Nothing here reads
or writes a store, imports torch, Ray or MLflow.
"""
