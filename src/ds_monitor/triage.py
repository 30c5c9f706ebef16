"""Which failures count, which are systemic, which may be recovered: pure, ``now`` passed in.

Spec section 3, steps 3-5: a failure counts when its instance started within the window; a
definition with more counted failures than ``max_failures`` is systemic (notify, never recover);
the FAILURE instances of the other definitions are recovery candidates. STOP, KILL and
NEED_FAULT_TOLERANCE are reported but never recovered.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from ds_monitor.ds.models import FAILURE, REPORTED_FAILURE_STATES, Instance


@dataclass(frozen=True)
class Triage:
    failures: list[Instance]  # reported failures inside the window, oldest first
    outside_window: int  # reported failures that started before the window
    systemic: dict[int, int]  # definition code -> failures in the window, for those over the threshold
    candidates: list[Instance]  # FAILURE instances of non-systemic definitions, oldest first


def triage(instances: Iterable[Instance], *, now: datetime, window: timedelta, max_failures: int) -> Triage:
    """Split one project's instances into counted failures, systemic definitions and candidates."""
    reported = [i for i in instances if i.state in REPORTED_FAILURE_STATES]
    # An instance without a start time cannot be placed outside the window: count it (fail-open).
    inside = sorted(
        (i for i in reported if i.start_time is None or i.start_time >= now - window),
        key=lambda i: (i.start_time or now, i.id),
    )
    by_definition: dict[int, list[Instance]] = defaultdict(list)
    for instance in inside:
        by_definition[instance.definition_code].append(instance)
    systemic = {code: len(found) for code, found in by_definition.items() if len(found) > max_failures}
    candidates = [i for i in inside if i.state == FAILURE and i.definition_code not in systemic]
    return Triage(inside, len(reported) - len(inside), systemic, candidates)
