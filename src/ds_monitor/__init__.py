"""ds-monitor: notices failed DolphinScheduler workflows, recovers them safely, tells people once."""

__version__ = "0.1.0"
