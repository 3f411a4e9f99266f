"""The operator's view: Prometheus `/metrics` (`metrics`), the refusals counted and logged
(`refusals`), JSON log lines (`eventlog`), the audit trail (`history`), process traces
(`trace`), dry runs (`dryrun`) and timed delegations (`expiry`)."""
