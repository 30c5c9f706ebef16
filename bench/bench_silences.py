"""What silences cost a sweep: ``silences.apply`` over many events and silences, and the size of the
``silences.json`` document it leaves (issue 12). Pure code, no I/O: the figures are the per-sweep
overhead an estate of that size pays.

    python bench/bench_silences.py                       # 5,000 events, 100 silences
    python bench/bench_silences.py --events 20000 --silences 500
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]

from ds_monitor import silences  # noqa: E402
from ds_monitor.notify.events import Event  # noqa: E402

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=timezone.utc)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--silences", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    state: dict = {}
    for n in range(args.silences):
        # Every tenth silence covers a project that exists: a tenth of the events end up hidden.
        project = f"project-{n // 10}" if n % 10 == 0 else f"nowhere-{n}"
        silence = silences.new_silence(
            silence_id=f"s{n}", now=NOW, until=NOW + timedelta(hours=2), reason="bench", projects=(project,)
        )
        state = silences.add(state, silence, NOW)
    events = [
        Event("failure_detected", project_code=1, project_name=f"project-{n % 100}", definition_code=n,
              definition_name=f"wf-{n}", instance_id=n)
        for n in range(args.events)
    ]
    timings = []
    for round_ in range(args.rounds):
        started = time.perf_counter()
        muting = silences.apply(events, state, NOW + timedelta(minutes=round_))
        timings.append(time.perf_counter() - started)
        state = muting.state
    hidden = sum(len(s.hidden) for s in silences.load(state))
    print(f"events per sweep: {args.events}, silences: {args.silences}, hidden incidents: {hidden}")
    print(f"apply: median {statistics.median(timings) * 1000:.1f} ms, max {max(timings) * 1000:.1f} ms "
          f"over {args.rounds} sweeps")
    print(f"silences.json: {len(json.dumps(state)) / 1024:.0f} KiB")
    released = silences.apply([], state, NOW + timedelta(hours=3))
    print(f"release at the end: {len(released.send)} incidents announced once")


if __name__ == "__main__":
    main()
