"""What several test modules share: the `sweep` command run as a user runs it (`sweep_cli`), loopback
servers and clusters (`loopback`, `loopback_cluster`), ready-made stores for the reports (`report_store`),
scripted epoch results (`epoch_reports`), and reads the package itself never needs (`parameters`,
`statuses`). tests/conftest.py turns the first ones into fixtures."""
