"""Recording: everything a study writes to, or reads back from, its MLflow store and its shared storage.

It owns the `sweeps.*` tag names (`tags`), reads of the store (`store`; a SQL store's tables read whole:
`table_read`), the writes of a study's runs (`tracking`) and the outbox that holds them through a
tracking-server outage (`outbox`), the server probe (`reachability`), checksummed trial checkpoints
(`checkpoints`) and the registered best model (`model_registry`). It knows the plan only as data
(`sweeps.trials`).
"""
