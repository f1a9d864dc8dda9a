"""Configuration: a study's Hydra configs composed into plain, validated values.

It owns where the configs come from (`sources`: the built-in configs, in the checkout or the installed
package, and a course folder of the user's own; `locations`: paths in them), how a study and its
overrides are composed (`compose`), the schema every trial's settings are checked against before
anything starts (`schema`), the search grammar turned into plain search spaces (`search_space`), and the
starter course folder `sweep init` writes (`starter`). Nothing here reads or writes a store, imports
torch, Ray or MLflow.
"""
