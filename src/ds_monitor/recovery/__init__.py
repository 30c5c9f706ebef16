"""Recovery of failed workflow instances ("recover from failed node"), one domain in four modules.

* :mod:`~ds_monitor.recovery.policy` — the per-workflow recovery policy from the config (pure),
* :mod:`~ds_monitor.recovery.decisions` — guards, attempt accounting and how a recovery ended (pure),
* :mod:`~ds_monitor.recovery.journal` — the journal document as typed records, its one load and dump,
* :mod:`~ds_monitor.recovery.action` — the shell: the sweep's recovery step (policy, interval, guards, then
  re-read, journal the intent, call DS) and the follow-up of recoveries under way.

Nothing here reads or writes the state store: the journal comes in as a document and goes out as
one, and the action saves through the ``save`` its caller hands over. What a DS error code means is
asked of the DS dialect (:mod:`ds_monitor.ds.dialect`).
"""
