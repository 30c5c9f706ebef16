#!/usr/bin/env python3
"""Generate tests/cron/data/quartz_expected.json.gz: fire times and verdicts from Quartz itself.

ds-monitor's cron module must give the answers DolphinScheduler's scheduler (org.quartz, 2.3.x)
gives. This script asks the real thing: it compiles QuartzOracle.java against Debian's
libquartz2-java, feeds it expressions x zones x start instants, and stores what Quartz says. The
tests read the stored file, so they run without Java.

Rerun (as root on a Debian machine; takes about a minute):

    apt-get update && apt-get install -y libquartz2-java default-jdk-headless
    python scripts/quartz/generate.py            # rewrites tests/cron/data/quartz_expected.json.gz

Everything is deterministic: fixed lists, random expressions from a fixed seed, fixed start instants.
Quartz's own upper year limit is "this year + 100", so no stored case reaches past 2099.

What is stored:
* valid: every expression Quartz accepts, with its next 5 fire times (epoch seconds, chained with
  getTimeAfter) from each start instant in each zone;
* invalid: expressions Quartz rejects, with Quartz's message;
* lenient: expressions Quartz accepts although they are junk or break its scheduler, which
  ds-monitor rejects on purpose (see the docstring of ds_monitor.cron), with Quartz's reading.
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import shutil
import subprocess
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUTPUT = HERE.parent.parent / "tests" / "cron" / "data" / "quartz_expected.json.gz"
QUARTZ_JAR = Path("/usr/share/java/quartz2.jar")
SEED = 20280229
RANDOM_COUNT = 480
FIRES_PER_CASE = 5

ZONES = ["Asia/Shanghai", "UTC", "America/New_York", "Europe/Berlin"]

# Start instants (UTC): around the DST changes of New York and Berlin, month ends, a leap day and
# a year end. Quartz is asked for the fire times strictly after each.
STARTS = [
    "2024-03-09T12:00:00Z",  # the day before New York springs forward (2024-03-10 02:00 EST)
    "2024-03-10T06:30:00Z",  # 01:30 EST, half an hour before the gap
    "2024-03-10T06:59:59Z",  # one second before the gap
    "2024-11-03T04:30:00Z",  # 00:30 EDT, before New York falls back
    "2024-11-03T05:30:00Z",  # 01:30 EDT: first pass through the repeated hour
    "2024-11-03T06:30:00Z",  # 01:30 EST: second pass
    "2024-10-27T00:30:00Z",  # 02:30 CEST: Berlin's first pass through its repeated hour
    "2025-03-29T12:00:00Z",  # the day before Berlin springs forward (2025-03-30 02:00 CET)
    "2025-03-30T00:30:00Z",  # 01:30 CET, half an hour before Berlin's gap
    "2025-10-26T01:15:00Z",  # 02:15 CET: Berlin's second pass
    "2025-01-31T23:59:59Z",  # month end
    "2025-04-30T12:00:00Z",  # end of a 30-day month
    "2028-02-28T12:00:00Z",  # before a leap day
    "2028-02-29T23:30:00Z",  # on the leap day
    "2025-12-31T23:59:59Z",  # year end
    "2026-06-15T08:17:23Z",  # an ordinary instant with odd seconds
]

# Schedules as DS users write them (UI default first).
DS_TYPICAL = [
    "0 0 * * * ? *",
    "0 0 2 * * ? *",
    "0 0 * * * ?",
    "0 */5 * * * ?",
    "0 30 8 ? * MON-FRI *",
    "0 0 0 * * ?",
    "0 0 1 * * ? *",
    "0 15 10 * * ?",
    "0 0 12 ? * WED",
    "0 0 8-18 ? * MON-FRI",
    "0 0/30 9-17 * * ?",
    "0 0 6 1 * ?",
    "0 0 0 L * ?",
    "0 0 23 L * ?",
    "0 0 9 LW * ?",
    "0 0 9 15W * ?",
    "0 0 10 ? * 6L",
    "0 0 10 ? * FRI#3",
    "0 0 4 ? * SUN",
    "0 0 2 ? * 1",
    "0 30 2 * * ?",
    "0 30 1 * * ?",
    "0 0 2 * * ?",
    "0 0 1-3 * * ?",
    "0 15,45 * * * ?",
    "0 0 0 1 1 ? *",
    "0 0 0 1 */3 ?",
    "0 0 12 1,15 * ?",
    "0 0 3 ? * 2-6",
    "0 10 0 * * ? 2025-2030",
    "0 0 0 29 2 ?",
    "0 0 0 ? 2 1L",
    "0 0 12 L-2 * ?",
    "0 0 7 ? * MON#1",
    "30 * * * * ?",
    "0 0 */2 * * ?",
    "0 0 0/6 * * ?",
    "0 5 0 ? * SAT,SUN",
    "0 0 22-2 * * ?",
    "0 0 0 31 * ?",
    "0 0 0 ? * 2#5",
    "0 0 0 30W * ?",
    "0 0 0 31W * ?",
    "0 0 0 29W * ?",
    "0 0 0 1W * ?",
    "0 0 0 L-30 * ?",
    "0 0 0 L-3W * ?",
    "0 0 12 ? JAN-MAR MON",
    "0 0 0 ? * MON-FRI/2",
    "*/0 0 0 1 1 ?",
    "0 0 0 ? * 2#1,4",
    "0 0 0 15W,20 * ?",
    "0 0 0 1,,2 * ?",
    "0 0 0 * * ? 2030 extra",
    "0 0 0 1 1 ? 2150",
    "0 0 0 ? * L",
    "0 0 0 ? * 1-0",
    "5-10/0 0 0 1 1 ? 2030",
    "0-59/100 0 0 * * ?",
    "0 0 0 ? * sun-sat",
    "0 0 0 lw * ?",
    "0 0 0 ? nov-feb 7l",
]

# Expressions Quartz rejects (checked again against Quartz when generating).
INVALID = [
    "",
    "0 0 0 * *",
    "0 0 0",
    "0 0 25 * * ?",
    "60 0 0 * * ?",
    "0 60 0 * * ?",
    "0 0 0 32 * ?",
    "0 0 0 0 * ?",
    "0 0 0 ? 13 *",
    "0 0 0 ? 0 *",
    "0 0 0 ? * 0",
    "0 0 0 ? * 8",
    "0 0 0 * * 1",
    "0 0 0 * * *",
    "0 0 0 ? * ?",
    "? 0 0 * * ?",
    "0 ? 0 * * ?",
    "0 0 ? * * ?",
    "0 0 0 * ? ?",
    "0 0 0 ? * * ?",
    "*/60 0 0 * * ?",
    "0 */60 0 * * ?",
    "0 0 */24 * * ?",
    "0 0 0 */32 * ?",
    "0 0 0 ? */13 *",
    "0 0 0 ? * */8",
    "5/60 0 0 * * ?",
    "0 0 5/24 * * ?",
    "0 0 0 ? * 1#6",
    "0 0 0 ? * 1#0",
    "0 0 0 ? * 5#1,6#2",
    "0 0 0 ? * 5L,6",
    "0 0 0 L,5 * ?",
    "0 0 0 L-31 * ?",
    "0 0 0 32W * ?",
    "0 0 0 ? * 0L",
    "0 0 0 ? * 8L",
    "0 0 0 5L * ?",
    "0 0 0 ? * 5W",
    "0 0 0 5#2 * ?",
    "0 0 5L * * ?",
    "0 0 0 ? JAN-FOO *",
    "0 0 0 ? FOO *",
    "0 0 0 ? * FOO",
    "0 0 0 ? * MON-5",
    "0 0 0 ? * 1-FRI",
    "0 0 0 ? * MON-",
    "5- 0 0 * * ?",
    "5/ 0 0 * * ?",
    "*/ 0 0 * * ?",
    "0 0 0 * * ? 2030-2020",
    "0 0 0 * * ? 2200/5",
    "0 0 0 * JAN ? 99999999999",
    "0 0 0 L- * ?",
    "0 0 0 ? * #2",
    "a 0 0 * * ?",
    "0 0 0 * * ? abc",
    "0 0 0 MON * ?",
    "0 0 0 ? * JAN",
    "0 0 1-24 * * ?",
    "0 0 0 1-32 * ?",
    "0 0 0 ? 1-13 *",
    "0 0 0 ? * 1-8",
    "0-60 0 0 * * ?",
    "0 0 0 W * ?",
    "0 0 0 ? * MON#x",
    "0 0 0 ? * 2#1x",
    "0 0 0 ? * FRI#6",
    "5/x 0 0 * * ?",
    "5/1x 0 0 * * ?",
    "*/x 0 0 * * ?",
    "*/5x 0 0 * * ?",
    "0 0 0 LX * ?",
    "0 0 0 LWX * ?",
    "0 0 0 L-3X * ?",
    "\u0663 0 0 * * ?",  # an Arabic-Indic three: not a digit to Quartz
    "\u00b2 0 0 * * ?",  # a superscript two
]

# Quartz accepts these, ds-monitor rejects them (see the docstring of ds_monitor.cron).
LENIENT = {
    "5X 0 0 * * ?": "text after a value is ignored by Quartz",
    "0 0 0 ? * MONDAY": "text after a day name is ignored by Quartz",
    "0 0 0 ? * 1-5#2": "'#' after a range is ignored by Quartz",
    "0 0 0 ? * SUN-SAT#2": "'#' after a name range is ignored by Quartz",
    "0 0 0 ? * 2-5L": "'L' after a range is ignored by Quartz",
    "0 0 0 1-5W * ?": "'W' after a range is ignored by Quartz",
    "0 0 0 ? * L-2": "text after 'L' in day-of-week is ignored by Quartz",
    "0 0 0 ? * LW": "'LW' in day-of-week reads as Saturday in Quartz",
    "0 0 0 L-W * ?": "Quartz reads 'L-W' as 'LW'",
    "*5 0 0 * * ?": "text after '*' is ignored by Quartz",
    "/5 0 0 * * ?": "Quartz reads '/5' as '*/5'",
    "*/-5 0 0 * * ?": "Quartz reads a negative step as 1",
    "0 0 0 ?x * MON": "one character after '?' is ignored by Quartz",
    "0 0 0 ?,5 * MON": "'?' inside a list",
    "L 0 0 * * ?": "'L' outside the day fields leaves the field empty: getTimeAfter throws",
    "0 0 0 * * ? L": "'L' in the year field leaves it empty: getTimeAfter throws",
    ", 0 0 * * ?": "an empty field: getTimeAfter throws",
    "0 0 0 0W * ?": "'0W': getTimeAfter never returns",
    "0 0 0 ? * 0#1": "day-of-week 0 in 'n#k' is not checked by Quartz",
    "0 0 0 ? * 8#1": "day-of-week 8 in 'n#k' is not checked by Quartz",
    "0 0 0 ? * 5#+2": "Quartz reads '+2' as 2",
    "0 0 0 1-5/2x * ?": "text after a range step is ignored by Quartz",
}


def random_expressions(rng: random.Random, count: int) -> list[str]:
    """Well-formed expressions that exercise every feature of the dialect, from a fixed seed."""
    days = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]
    months = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]

    def case(text: str) -> str:
        return text.lower() if rng.random() < 0.1 else text

    def number_field(low: int, high: int, common: list[str]) -> str:
        kind = rng.random()
        if kind < 0.45:
            return rng.choice(common)
        if kind < 0.6:
            return str(rng.randint(low, high))
        if kind < 0.7:
            return ",".join(str(v) for v in sorted(rng.sample(range(low, high + 1), rng.randint(2, 4))))
        if kind < 0.8:
            a, b = rng.randint(low, high), rng.randint(low, high)
            return f"{a}-{b}"  # may wrap
        if kind < 0.88:
            return f"*/{rng.randint(1, high)}"
        if kind < 0.95:
            return f"{rng.randint(low, high)}/{rng.randint(1, high)}"
        a = rng.randint(low, high)
        return f"{a}-{rng.randint(a, high)}/{rng.randint(1, 10)}"

    def day_of_month() -> str:
        kind = rng.random()
        if kind < 0.3:
            return "*"
        if kind < 0.4:
            return rng.choice(["L", "LW", f"L-{rng.randint(1, 30)}", f"L-{rng.randint(1, 5)}W"])
        if kind < 0.55:
            return f"{rng.choice([1, 2, 15, 28, 29, 30, 31, rng.randint(1, 31)])}W"
        return number_field(1, 31, ["1", "15", "1,15", "28", "29", "30", "31", "*/2", "10-20"])

    def day_of_week() -> str:
        kind = rng.random()
        if kind < 0.2:
            return "*"
        if kind < 0.35:
            return rng.choice(["MON-FRI", "SAT,SUN", "2-6", "FRI-MON", "TUE,THU", "SUN", "7"])
        if kind < 0.5:
            day = rng.choice([str(rng.randint(1, 7)), rng.choice(days)])
            return f"{day}#{rng.randint(1, 5)}"
        if kind < 0.62:
            return f"{rng.choice([str(rng.randint(1, 7)), rng.choice(days)])}L"
        if kind < 0.72:
            a, b = rng.sample(days, 2)
            return f"{a}-{b}"
        return number_field(1, 7, ["1", "2", "6", "2,4,6", "*/2", "1-7"])

    def month() -> str:
        kind = rng.random()
        if kind < 0.55:
            return "*"
        if kind < 0.7:
            a, b = rng.sample(months, 2)
            return rng.choice([a, f"{a}-{b}", f"{a},{b}"])
        return number_field(1, 12, ["1", "2", "*/3", "1-6", "2,8", "12"])

    def year() -> str:
        return rng.choice(
            [
                "",
                "",
                "",
                " *",
                " 2025-2030",
                " 2026,2028",
                " 2025/2",
                " 2024-2099/5",
                " */3",
                f" {rng.randint(2025, 2032)}",
                " 2029-2031",
            ]
        )

    result = []
    while len(result) < count:
        second = "0" if rng.random() < 0.75 else number_field(0, 59, ["0", "30", "*/10", "15,45", "*"])
        minute = number_field(0, 59, ["0", "30", "*/5", "*/15", "0/5", "10-40/10", "*"])
        hour = number_field(0, 23, ["*", "0", "2", "1", "3", "8-18", "22-2", "*/2", "2,14"])
        if rng.random() < 0.5:
            dom, dow = day_of_month(), "?"
        else:
            dom, dow = "?", day_of_week()
        result.append(case(f"{second} {minute} {hour} {dom} {month()} {dow}{year()}"))
    return result


def run_oracle(classes: Path, cases: list[tuple[str, int, int, str]]) -> list[tuple[str, str]]:
    lines = "".join(f"{zone}\t{start}\t{count}\t{expression}\n" for zone, start, count, expression in cases)
    done = subprocess.run(
        ["java", "-cp", f"{QUARTZ_JAR}:{classes}", "QuartzOracle"],
        input=lines,
        capture_output=True,
        text=True,
        check=True,
    )
    answers = [tuple(line.split("\t", 1)) for line in done.stdout.splitlines()]
    if len(answers) != len(cases):
        sys.exit(f"QuartzOracle answered {len(answers)} of {len(cases)} cases: {done.stderr[-2000:]}")
    return answers  # type: ignore[return-value]


def verdicts(classes: Path, expressions: list[str]) -> dict[str, tuple[str, str]]:
    """Quartz's verdict per expression: ("OK"|"ERR"|"BROKEN", detail), from one start in UTC."""
    probe = int(datetime(2025, 1, 1, tzinfo=timezone.utc).timestamp())
    answers = run_oracle(classes, [("UTC", probe, 1, e) for e in expressions])
    return dict(zip(expressions, answers, strict=True))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args()
    if not QUARTZ_JAR.exists() or shutil.which("javac") is None:
        sys.exit(f"needs {QUARTZ_JAR} and javac: apt-get install -y libquartz2-java default-jdk-headless")
    package = subprocess.run(
        ["dpkg-query", "-W", "-f=${Version}", "libquartz2-java"], capture_output=True, text=True
    ).stdout.strip()
    java = subprocess.run(["java", "-version"], capture_output=True, text=True).stderr.splitlines()[0]

    with tempfile.TemporaryDirectory() as classes:
        subprocess.run(
            ["javac", "-Xlint:none", "-d", classes, "-cp", str(QUARTZ_JAR), str(HERE / "QuartzOracle.java")],
            check=True,
        )
        classes_dir = Path(classes)
        rng = random.Random(SEED)
        candidates = list(dict.fromkeys(DS_TYPICAL + random_expressions(rng, RANDOM_COUNT)))
        found = verdicts(classes_dir, candidates + INVALID + list(LENIENT))

        problems = [
            f"Quartz rejects a valid-set expression {e!r}: {found[e]}"
            for e in candidates
            if found[e][0] != "OK"
        ]
        problems += [
            f"Quartz accepts an invalid-set expression {e!r}" for e in INVALID if found[e][0] != "ERR"
        ]
        problems += [
            f"Quartz rejects a lenient-set expression {e!r}: {found[e]}"
            for e in LENIENT
            if found[e][0] == "ERR"
        ]
        if problems:
            sys.exit("\n".join(problems))

        starts = [int(datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()) for s in STARTS]
        cases = [(zone, start, FIRES_PER_CASE, e) for e in candidates for zone in ZONES for start in starts]
        answers = iter(run_oracle(classes_dir, cases))

    valid = []
    for expression in candidates:
        fires: dict[str, list[list[int | None]]] = {}
        for zone in ZONES:
            per_start = []
            for _ in starts:
                status, detail = next(answers)
                if status != "OK":
                    sys.exit(f"Quartz could not evaluate {expression!r} in {zone}: {detail}")
                per_start.append([None if t == "none" else int(t) for t in detail.split()])
            fires[zone] = per_start
        source = "ds" if expression in DS_TYPICAL else "random"
        valid.append({"expression": expression, "source": source, "fires": fires})

    data = {
        "about": "Fire times and verdicts from org.quartz.CronExpression; made by scripts/quartz/generate.py",
        "quartz": f"Debian libquartz2-java {package}; {java}",
        "fires_per_case": FIRES_PER_CASE,
        "zones": ZONES,
        "starts": STARTS,
        "valid": valid,
        "invalid": [{"expression": e, "quartz_error": found[e][1]} for e in INVALID],
        "lenient": [
            {"expression": e, "why": why, "quartz": " ".join(found[e])} for e, why in LENIENT.items()
        ],
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    payload = json.dumps(data, separators=(",", ":"), sort_keys=False).encode()
    # no name and no time in the gzip header: the same answers give the same bytes
    with args.output.open("wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as out:
        out.write(payload)
    print(
        f"{args.output}: {len(valid)} valid x {len(ZONES)} zones x {len(starts)} starts, "
        f"{len(INVALID)} invalid, {len(LENIENT)} lenient ({args.output.stat().st_size} bytes)"
    )


if __name__ == "__main__":
    main()
