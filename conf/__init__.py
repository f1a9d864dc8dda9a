"""The built-in configs, installed as the package `sweeps_conf`: Hydra reads them as pkg://sweeps_conf, which needs this file."""
