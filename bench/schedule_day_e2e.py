"""DS calls over a simulated day against the DS double, schedule optimisation on vs off.

The real monitor, client and tracker sweep the DS test double on an injected clock (see
``bench/day.py``): 200 definitions, daily and hourly schedules in four zones, some manual-only,
failures and manual runs at random times. Prints DS calls on vs off as a ratio, and the worst
detection delay against the promise ``max_unchecked_minutes`` + one interval.

    python bench/schedule_day_e2e.py                  # 5-minute sweeps (the issue's setting)
    python bench/schedule_day_e2e.py --interval 60    # the default check_interval
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.day import run_day  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--interval", type=int, default=300, help="seconds between sweeps")
    parser.add_argument("--max-unchecked", type=float, default=15, help="monitor.max_unchecked_minutes")
    parser.add_argument("--hours", type=int, default=24)
    parser.add_argument("--projects", type=int, default=10, help="the 200 definitions are spread over this many")
    args = parser.parse_args()
    interval = timedelta(seconds=args.interval)
    results = {}
    for optimise in (False, True):
        began = time.perf_counter()
        results[optimise] = run_day(
            optimise=optimise,
            interval=interval,
            hours=args.hours,
            max_unchecked_minutes=args.max_unchecked,
            projects=args.projects,
        )
        r = results[optimise]
        print(
            f"optimisation {'on ' if optimise else 'off'}: {r.sweeps} sweeps, {r.ds_calls} DS calls, "
            f"{r.failures} failures, undetected {len(r.undetected)}, worst detection delay "
            f"{r.worst_delay.total_seconds() / 60:.1f} min ({time.perf_counter() - began:.0f} s)"
        )
    off, on = results[False].ds_calls, results[True].ds_calls
    bound = args.max_unchecked + interval.total_seconds() / 60
    print(
        f"DS calls on/off = {on}/{off} = {on / off:.2f}: {100 * (1 - on / off):.0f}% fewer; "
        f"detection bound {bound:g} min, worst {results[True].worst_delay.total_seconds() / 60:.1f} min"
    )


if __name__ == "__main__":
    main()
