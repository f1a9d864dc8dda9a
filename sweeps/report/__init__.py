"""`sweep report`: a study's runs read back from MLflow → report.md, index.html, benchmark.md and PNG figures."""
