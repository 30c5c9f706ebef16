"""Parsing the DS/Quartz cron dialect: what is valid, and errors that name the field and token."""

from datetime import datetime, timezone, tzinfo

import pytest

from ds_monitor.cron import CronError, CronExpression, parse
from ds_monitor.errors import ConfigError

START = datetime(2025, 1, 1, tzinfo=timezone.utc)  # a Wednesday


def fires(expression: str, count: int = 4, start: datetime = START, zone: tzinfo = timezone.utc) -> list[str]:
    cron = parse(expression)
    result, t = [], start
    for _ in range(count):
        t = cron.next_fire(t, zone) if t else None
        result.append(t.strftime("%Y-%m-%d %a %H:%M:%S") if t else None)
    return result


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        pytest.param(
            "0 0 2 * * ? *",
            [
                "2025-01-01 Wed 02:00:00",
                "2025-01-02 Thu 02:00:00",
                "2025-01-03 Fri 02:00:00",
                "2025-01-04 Sat 02:00:00",
            ],
            id="daily-2am",
        ),
        pytest.param(
            "0 0 * * * ? *",
            [
                "2025-01-01 Wed 01:00:00",
                "2025-01-01 Wed 02:00:00",
                "2025-01-01 Wed 03:00:00",
                "2025-01-01 Wed 04:00:00",
            ],
            id="ui-default-hourly",
        ),
        pytest.param(
            "0 */5 * * * ?",
            [
                "2025-01-01 Wed 00:05:00",
                "2025-01-01 Wed 00:10:00",
                "2025-01-01 Wed 00:15:00",
                "2025-01-01 Wed 00:20:00",
            ],
            id="every-5-min",
        ),
        pytest.param(
            "0 30 8 ? * MON-FRI *",
            [
                "2025-01-01 Wed 08:30:00",
                "2025-01-02 Thu 08:30:00",
                "2025-01-03 Fri 08:30:00",
                "2025-01-06 Mon 08:30:00",
            ],
            id="weekdays",
        ),
        pytest.param(
            "0 10-40/10 9 * * ?",
            [
                "2025-01-01 Wed 09:10:00",
                "2025-01-01 Wed 09:20:00",
                "2025-01-01 Wed 09:30:00",
                "2025-01-01 Wed 09:40:00",
            ],
            id="range-step",
        ),
        pytest.param(
            "15/20 0 0 * * ?",
            [
                "2025-01-01 Wed 00:00:15",
                "2025-01-01 Wed 00:00:35",
                "2025-01-01 Wed 00:00:55",
                "2025-01-02 Thu 00:00:15",
            ],
            id="start-step",
        ),
        pytest.param(
            "0 0 22-1 * * ?",
            [
                "2025-01-01 Wed 01:00:00",
                "2025-01-01 Wed 22:00:00",
                "2025-01-01 Wed 23:00:00",
                "2025-01-02 Thu 00:00:00",
            ],
            id="wrapping-hours",
        ),
        pytest.param(
            "0 0 12 ? * FRI-MON",
            [
                "2025-01-03 Fri 12:00:00",
                "2025-01-04 Sat 12:00:00",
                "2025-01-05 Sun 12:00:00",
                "2025-01-06 Mon 12:00:00",
            ],
            id="wrapping-days",
        ),
        pytest.param(
            "0 0 0 1 nov-feb ?",
            [
                "2025-02-01 Sat 00:00:00",
                "2025-11-01 Sat 00:00:00",
                "2025-12-01 Mon 00:00:00",
                "2026-01-01 Thu 00:00:00",
            ],
            id="month-names-lower",
        ),
        pytest.param(
            "0 0 12 ? * 1",
            [
                "2025-01-05 Sun 12:00:00",
                "2025-01-12 Sun 12:00:00",
                "2025-01-19 Sun 12:00:00",
                "2025-01-26 Sun 12:00:00",
            ],
            id="1-is-sunday",
        ),
        pytest.param(
            "0 0 12 ? * 7,2",
            [
                "2025-01-04 Sat 12:00:00",
                "2025-01-06 Mon 12:00:00",
                "2025-01-11 Sat 12:00:00",
                "2025-01-13 Mon 12:00:00",
            ],
            id="7-is-saturday",
        ),
        pytest.param(
            "0 0 0 L * ?",
            [
                "2025-01-31 Fri 00:00:00",
                "2025-02-28 Fri 00:00:00",
                "2025-03-31 Mon 00:00:00",
                "2025-04-30 Wed 00:00:00",
            ],
            id="last-day",
        ),
        pytest.param(
            "0 0 0 L-2 * ?",
            [
                "2025-01-29 Wed 00:00:00",
                "2025-02-26 Wed 00:00:00",
                "2025-03-29 Sat 00:00:00",
                "2025-04-28 Mon 00:00:00",
            ],
            id="last-day-minus-2",
        ),
        pytest.param(
            "0 0 0 LW * ?",
            [
                "2025-01-31 Fri 00:00:00",
                "2025-02-28 Fri 00:00:00",
                "2025-03-31 Mon 00:00:00",
                "2025-04-30 Wed 00:00:00",
            ],
            id="last-weekday",
        ),
        pytest.param(
            "0 0 0 lw 5,8 ?",
            [
                "2025-05-30 Fri 00:00:00",
                "2025-08-29 Fri 00:00:00",
                "2026-05-29 Fri 00:00:00",
                "2026-08-31 Mon 00:00:00",
            ],
            id="last-weekday-sat-sun",
        ),
        pytest.param(
            "0 0 0 15W * ?",
            [
                "2025-01-15 Wed 00:00:00",
                "2025-02-14 Fri 00:00:00",
                "2025-03-14 Fri 00:00:00",
                "2025-04-15 Tue 00:00:00",
            ],
            id="nearest-weekday",
        ),
        pytest.param(
            "0 0 0 1W 2,3 ?",
            [
                "2025-02-03 Mon 00:00:00",
                "2025-03-03 Mon 00:00:00",
                "2026-02-02 Mon 00:00:00",
                "2026-03-02 Mon 00:00:00",
            ],
            id="1W-saturday-goes-forward",
        ),
        pytest.param(
            "0 0 0 ? * 6L",
            [
                "2025-01-31 Fri 00:00:00",
                "2025-02-28 Fri 00:00:00",
                "2025-03-28 Fri 00:00:00",
                "2025-04-25 Fri 00:00:00",
            ],
            id="last-friday",
        ),
        pytest.param(
            "0 0 0 ? * FRI#3",
            [
                "2025-01-17 Fri 00:00:00",
                "2025-02-21 Fri 00:00:00",
                "2025-03-21 Fri 00:00:00",
                "2025-04-18 Fri 00:00:00",
            ],
            id="third-friday",
        ),
        pytest.param(
            "0 0 0 ? * 2#5",
            [
                "2025-03-31 Mon 00:00:00",
                "2025-06-30 Mon 00:00:00",
                "2025-09-29 Mon 00:00:00",
                "2025-12-29 Mon 00:00:00",
            ],
            id="fifth-monday",
        ),
        pytest.param(
            "0 0 0 ? * L",
            [
                "2025-01-04 Sat 00:00:00",
                "2025-01-11 Sat 00:00:00",
                "2025-01-18 Sat 00:00:00",
                "2025-01-25 Sat 00:00:00",
            ],
            id="L-alone-is-saturday",
        ),
        pytest.param(
            "0 0 0 29 2 ?",
            [
                "2028-02-29 Tue 00:00:00",
                "2032-02-29 Sun 00:00:00",
                "2036-02-29 Fri 00:00:00",
                "2040-02-29 Wed 00:00:00",
            ],
            id="leap-day",
        ),
        pytest.param(
            "0 0 0 1 1 ? 2026-2027",
            ["2026-01-01 Thu 00:00:00", "2027-01-01 Fri 00:00:00", None, None],
            id="year-range-runs-out",
        ),
        pytest.param(
            "0 0 0 1 1 ? 2030/20",
            [
                "2030-01-01 Tue 00:00:00",
                "2050-01-01 Sat 00:00:00",
                "2070-01-01 Wed 00:00:00",
                "2090-01-01 Sun 00:00:00",
            ],
            id="year-step",
        ),
        pytest.param("0 0 0 30 2 ?", [None, None, None, None], id="never"),
        pytest.param("0 0 0 1 1 ? 2150", [None, None, None, None], id="after-2099"),
        # Quartz quirks that decide when DS really runs a workflow
        pytest.param(
            "0 0 12 ? * MON-FRI/2",
            [
                "2025-01-01 Wed 12:00:00",
                "2025-01-02 Thu 12:00:00",
                "2025-01-03 Fri 12:00:00",
                "2025-01-06 Mon 12:00:00",
            ],
            id="step-after-name-ignored",
        ),
        pytest.param(
            "*/0 0 0 1 1 ?",
            [
                "2025-01-01 Wed 00:00:01",
                "2025-01-01 Wed 00:00:02",
                "2025-01-01 Wed 00:00:03",
                "2025-01-01 Wed 00:00:04",
            ],
            id="star-step-0-is-star",
        ),
        pytest.param(
            "5-10/0 0 0 1 1 ?",
            [
                "2025-01-01 Wed 00:00:05",
                "2026-01-01 Thu 00:00:05",
                "2027-01-01 Fri 00:00:05",
                "2028-01-01 Sat 00:00:05",
            ],
            id="range-step-0-is-start",
        ),
        pytest.param(
            "0 0 0 ? * 2#1,4",
            [
                "2025-01-06 Mon 00:00:00",
                "2025-02-03 Mon 00:00:00",
                "2025-03-03 Mon 00:00:00",
                "2025-04-07 Mon 00:00:00",
            ],
            id="nth-uses-smallest-day",
        ),
        pytest.param(
            "0 0 0 20,15W * ?",
            [
                "2025-01-15 Wed 00:00:00",
                "2025-02-14 Fri 00:00:00",
                "2025-03-14 Fri 00:00:00",
                "2025-04-15 Tue 00:00:00",
            ],
            id="W-uses-smallest-day",
        ),
        pytest.param(
            "0 0 0 29W * ?",
            [
                "2025-01-29 Wed 00:00:00",
                "2025-03-28 Fri 00:00:00",
                "2025-04-29 Tue 00:00:00",
                "2025-05-29 Thu 00:00:00",
            ],
            id="29W-skips-february-after-january",
        ),
        pytest.param(
            "0 0 0 1,,2 * ? 2025 trailing words",
            [
                "2025-01-02 Thu 00:00:00",
                "2025-02-01 Sat 00:00:00",
                "2025-02-02 Sun 00:00:00",
                "2025-03-01 Sat 00:00:00",
            ],
            id="empty-items-and-extra-fields-ignored",
        ),
    ],
)
def test_valid_expressions_fire_as_quartz_does(expression, expected):
    assert fires(expression) == expected


def test_29W_fires_in_february_when_started_there():
    start = datetime(2025, 2, 10, tzinfo=timezone.utc)
    assert fires("0 0 0 29W * ?", 2, start) == ["2025-02-28 Fri 00:00:00", "2025-03-28 Fri 00:00:00"]


@pytest.mark.parametrize(
    ("expression", "field", "token"),
    [
        pytest.param("0 0 25 * * ?", "hour", "25", id="hour-25"),
        pytest.param("60 0 0 * * ?", "second", "60", id="second-60"),
        pytest.param("0 60 0 * * ?", "minute", "60", id="minute-60"),
        pytest.param("0 0 0 32 * ?", "day-of-month", "32", id="dom-32"),
        pytest.param("0 0 0 0 * ?", "day-of-month", "0", id="dom-0"),
        pytest.param("0 0 0 ? 13 *", "month", "13", id="month-13"),
        pytest.param("0 0 0 ? * 0", "day-of-week", "0", id="dow-0-is-invalid"),
        pytest.param("0 0 0 ? * 8", "day-of-week", "8", id="dow-8"),
        pytest.param("0 0 0 ? * 1-8", "day-of-week", "1-8", id="dow-range-end"),
        pytest.param("0 0 1-24 * * ?", "hour", "1-24", id="hour-range-end"),
        pytest.param("0 0 0 * * *", "day-of-week", "*", id="neither-is-question-mark"),
        pytest.param("0 0 0 * * 1", "day-of-week", "1", id="both-days-given"),
        pytest.param("0 0 0 ? * ?", "day-of-week", "?", id="both-question-marks"),
        pytest.param("? 0 0 * * ?", "second", "?", id="question-mark-in-seconds"),
        pytest.param("0 0 0 ?,5 * MON", "day-of-month", "?", id="question-mark-in-list"),
        pytest.param("*/60 0 0 * * ?", "second", "*/60", id="step-too-large"),
        pytest.param("0 0 */24 * * ?", "hour", "*/24", id="hour-step-too-large"),
        pytest.param("0 0 5/24 * * ?", "hour", "5/24", id="start-step-too-large"),
        pytest.param("0 0 0 ? */13 *", "month", "*/13", id="month-step-too-large"),
        pytest.param("0 0 0 ? * */8", "day-of-week", "*/8", id="dow-step-too-large"),
        pytest.param("0 0 0 ? * FRI#6", "day-of-week", "FRI#6", id="nth-too-large"),
        pytest.param("0 0 0 ? * 1#0", "day-of-week", "1#0", id="nth-zero"),
        pytest.param("0 0 0 ? * 8#1", "day-of-week", "8#1", id="nth-day-8"),
        pytest.param("0 0 0 ? * 5#1,6#2", "day-of-week", "5#1,6#2", id="two-nths"),
        pytest.param("0 0 0 ? * 5L,6", "day-of-week", "5L,6", id="L-in-dow-list"),
        pytest.param("0 0 0 L,5 * ?", "day-of-month", "L,5", id="L-in-dom-list"),
        pytest.param("0 0 0 L-31 * ?", "day-of-month", "L-31", id="L-offset-too-large"),
        pytest.param("0 0 0 32W * ?", "day-of-month", "32W", id="W-day-too-large"),
        pytest.param("0 0 0 0W * ?", "day-of-month", "0W", id="W-day-zero"),
        pytest.param("0 0 0 5L * ?", "day-of-month", "5L", id="nL-in-dom"),
        pytest.param("0 0 0 ? * 5W", "day-of-week", "5W", id="W-in-dow"),
        pytest.param("0 0 5L * * ?", "hour", "5L", id="L-in-hour"),
        pytest.param("L 0 0 * * ?", "second", "L", id="L-in-seconds"),
        pytest.param("0 0 0 5#2 * ?", "day-of-month", "5#2", id="hash-in-dom"),
        pytest.param("0 0 0 ? FOO *", "month", "FOO", id="unknown-month"),
        pytest.param("0 0 0 ? * MONDAY", "day-of-week", "MONDAY", id="long-day-name"),
        pytest.param("0 0 0 ? * MON-5", "day-of-week", "MON-5", id="name-number-range"),
        pytest.param("0 0 0 MON * ?", "day-of-month", "MON", id="day-name-in-dom"),
        pytest.param("0 0 0 ? * JAN", "day-of-week", "JAN", id="month-name-in-dow"),
        pytest.param("5X 0 0 * * ?", "second", "5X", id="junk-after-value"),
        pytest.param("5- 0 0 * * ?", "second", "5-", id="open-range"),
        pytest.param("5/ 0 0 * * ?", "second", "5/", id="open-step"),
        pytest.param("0 0 0 * * ? 2030-2020", "year", "2030-2020", id="backwards-years"),
        pytest.param("0 0 0 * * ? 2200/5", "year", "2200/5", id="year-step-after-horizon"),
        pytest.param("0 0 0 * * ? 99999999999", "year", "99999999999", id="year-not-an-int"),
        pytest.param("0 0 0 , * ?", "day-of-month", ",", id="empty-field"),
        pytest.param("\u0663 0 0 * * ?", "second", "\u0663", id="non-ascii-digit"),
        pytest.param("\u00b2 0 0 * * ?", "second", "\u00b2", id="superscript-two"),
    ],
)
def test_invalid_expression_names_field_and_token(expression, field, token):
    with pytest.raises(CronError) as caught:
        parse(expression)
    err = caught.value
    assert (err.field, err.token) == (field, token)
    assert str(err).startswith(f'invalid cron "{expression}": {field} field: ')
    assert "\n" not in str(err)


def test_error_message_reads_well():
    with pytest.raises(
        CronError, match=r'^invalid cron "0 0 25 \* \* \?": hour field: value 25 out of range 0-23$'
    ):
        parse("0 0 25 * * ?")


@pytest.mark.parametrize(
    "expression", ["", "   ", "0 0 0", "0 0 0 * *"], ids=["empty", "blank", "3-fields", "5-fields"]
)
def test_too_few_fields(expression):
    with pytest.raises(CronError, match=r"expected 6 or 7 fields .*, got \d") as caught:
        parse(expression)
    assert caught.value.field is None


def test_cron_error_is_a_config_error_with_exit_code_2():
    with pytest.raises(ConfigError) as caught:
        parse("0 0 0 ? * 0")
    assert caught.value.exit_code == 2


def test_parse_caches_and_keeps_the_text():
    cron = parse(" 0 0 2 * * ? * ")
    assert isinstance(cron, CronExpression)
    assert cron.expression == " 0 0 2 * * ? * "
    assert parse(" 0 0 2 * * ? * ") is cron
    assert repr(cron) == "CronExpression(' 0 0 2 * * ? * ')"


def test_tabs_and_surrounding_whitespace_are_separators():
    assert fires("0\t0  2 * * ?\n", 1) == ["2025-01-01 Wed 02:00:00"]
