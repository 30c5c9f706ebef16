"""The steps of one sweep, each a module, and the report they fill (:class:`ds_monitor.monitor.Monitor` runs them)."""
