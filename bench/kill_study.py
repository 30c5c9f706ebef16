"""Issue 16's fault-injection study at full size: 40 random SIGKILLs of a real ``run``.

Prints, for DS 3.2 and 3.3 and a few seeds each, what the generic webhook and the e-mail channel received against
what the monitor announced: lost announcements, repeats (a repeat needs a kill inside a channel's
single send), recover calls and double recoveries. Nothing is asserted.

    python bench/kill_study.py [KILLS] [RUNS] 2>/dev/null   # stderr: the doubles' broken pipes
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]

from tests.sweep.kill_study import run_study  # noqa: E402

from ds_monitor.simulator import DSSimulator  # noqa: E402


def main() -> None:
    kills = int(sys.argv[1]) if len(sys.argv) > 1 else 40
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    started_sims: list[DSSimulator] = []

    def make_sim(version: str, **kwargs) -> DSSimulator:
        sim = DSSimulator(version=version, **kwargs)
        sim.start()
        started_sims.append(sim)
        return sim

    for version, seed_value in [(v, n) for v in ("3.2", "3.3") for n in range(1, runs + 1)]:
        started = time.monotonic()
        with tempfile.TemporaryDirectory() as work:
            try:
                result = run_study(
                    make_sim, Path(work), version=version, kills=kills, seed_value=seed_value,
                    pause=(0.4, 2.0), settle_for=60, latency=0.05,
                )
            finally:
                while started_sims:
                    started_sims.pop().stop()
        print(f"DS {version} seed {seed_value}: {result.summary()} ({time.monotonic() - started:.0f} s)", flush=True)
        if result.lost_webhook:
            print(f"  lost on the webhook: {sorted(result.lost_webhook)}")
        if result.double_recoveries:
            print(f"  double recoveries: {result.double_recoveries}")


if __name__ == "__main__":
    main()
