"""The operator's view: Prometheus `/metrics` (`metrics`), JSON log lines (`eventlog`), the audit
trail (`history`), process traces (`trace`), dry runs (`dryrun`) and timed delegations
(`expiry`)."""
