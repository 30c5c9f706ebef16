"""An in-package DolphinScheduler API double (3.0-3.3) for tests, ``main.py demo`` and benches.

Modules: :mod:`.versions` (what differs per version), :mod:`.store` (the estate and DS
semantics), :mod:`.render` (JSON shapes), :mod:`.api` (routes, auth, parameters),
:mod:`.faults` (injected failures), :mod:`.server` (HTTP), :mod:`.double` (the facade).
"""

from .double import DSSimulator
from .faults import FAULT_KINDS
from .server import RecordedCall
from .versions import VERSIONS

__all__ = ["DSSimulator", "FAULT_KINDS", "RecordedCall", "VERSIONS"]
