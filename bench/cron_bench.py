"""How long ds_monitor.cron takes per call: next_fire and previous_fire for typical DS schedules.

Target (issue "Schedule awareness"): next fire time <= 50 us median for typical expressions.
Prints median and p95 per expression and zone, over start instants spread across 2024-2028.

    python bench/cron_bench.py [--calls N]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from ds_monitor.cron import parse  # noqa: E402
from ds_monitor.zones import parse_zone  # noqa: E402

EXPRESSIONS = [
    "0 0 2 * * ? *",
    "0 0 * * * ? *",
    "0 */5 * * * ?",
    "0 30 8 ? * MON-FRI *",
    "0 0 0 L * ?",
    "0 0 9 15W * ?",
    "0 0 10 ? * FRI#3",
    "0 0 12 1 1 ? 2030",
]
ZONES = ["Asia/Shanghai", "America/New_York"]


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def timed(call, instants: list[datetime]) -> list[float]:
    """Microseconds per call, one sample per instant."""
    samples = []
    clock = time.perf_counter_ns
    for instant in instants:
        begin = clock()
        call(instant)
        samples.append((clock() - begin) / 1000)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=20000, help="calls per expression, zone and function")
    args = parser.parse_args()
    rng = random.Random(1)
    base = datetime(2024, 1, 1, tzinfo=timezone.utc)
    instants = [base + timedelta(seconds=rng.randint(0, 5 * 365 * 86400)) for _ in range(args.calls)]

    parse_samples = timed(
        lambda i: parse.__wrapped__(EXPRESSIONS[i.second % len(EXPRESSIONS)]), instants[:2000]
    )
    print(
        f"parse (uncached): median {statistics.median(parse_samples):6.1f} us   "
        f"p95 {percentile(parse_samples, 0.95):6.1f} us"
    )
    header = ["next median", "next p95", "prev median", "prev p95"]
    print(f"{'expression':24} {'zone':18} " + " ".join(f"{h:>12}" for h in header))
    worst = 0.0
    for expression in EXPRESSIONS:
        cron = parse(expression)
        for name in ZONES:
            zone = parse_zone(name)
            cron.next_fire(instants[0], zone)  # warm the zone and parse caches
            nexts = timed(lambda i, c=cron, z=zone: c.next_fire(i, z), instants)
            prevs = timed(lambda i, c=cron, z=zone: c.previous_fire(i, z), instants)
            worst = max(worst, statistics.median(nexts))
            figures = [statistics.median(nexts), percentile(nexts, 0.95)]
            figures += [statistics.median(prevs), percentile(prevs, 0.95)]
            print(f"{expression:24} {name:18} " + " ".join(f"{f:9.1f} us" for f in figures))
    print(f"worst next_fire median: {worst:.1f} us (target <= 50 us)")


if __name__ == "__main__":
    main()
