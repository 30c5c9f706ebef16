"""The DS wire dialect: dates, date filters and raw object -> model parsing (pure); zones: tests/test_zones.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from ds_monitor.ds import dialect as wire
from ds_monitor.errors import DSProtocolError

SHANGHAI = ZoneInfo("Asia/Shanghai")


def test_ds_time_round_trip_in_user_zone():
    parsed = wire.parse_ds_time("2024-06-01 02:00:00", SHANGHAI)
    assert parsed == datetime(2024, 5, 31, 18, 0, tzinfo=UTC)
    assert wire.format_ds_time(parsed, SHANGHAI) == "2024-06-01 02:00:00"
    assert wire.format_ds_time(parsed, ZoneInfo("UTC")) == "2024-05-31 18:00:00"


@pytest.mark.parametrize(
    "text",
    ["2024-06-01", "2024-06-01T02:00:00", "2024-06-01 02:00:00.123", "01/06/2024 02:00"],
    ids=["date-only", "iso-t", "millis", "other"],
)
def test_ds_time_is_strict(text):
    with pytest.raises(ValueError):
        wire.parse_ds_time(text, SHANGHAI)


def test_naive_filter_datetime_is_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        wire.format_ds_time(datetime(2024, 6, 1), SHANGHAI)  # noqa: DTZ001 - the point of the test


def test_date_params_none_means_no_filter():
    assert wire.start_date_params(None, None, SHANGHAI) == {}


@pytest.mark.parametrize(
    ("start_from", "start_to", "expected"),
    [
        (
            datetime(2024, 6, 1, 0, 0, tzinfo=UTC),
            datetime(2024, 6, 2, 0, 0, tzinfo=UTC),
            {"startDate": "2024-06-01 07:59:59", "endDate": "2024-06-02 08:00:00"},
        ),
        (
            datetime(2024, 6, 1, 0, 0, tzinfo=UTC),
            None,
            {"startDate": "2024-06-01 07:59:59", "endDate": wire.OPEN_UPPER_BOUND},
        ),
        (
            None,
            datetime(2024, 6, 2, 0, 0, 0, 999_000, tzinfo=UTC),
            {"startDate": wire.OPEN_LOWER_BOUND, "endDate": "2024-06-02 08:00:00"},
        ),
    ],
    ids=["both", "lower-only", "upper-only-subsecond"],
)
def test_date_params_always_send_both_bounds_in_user_zone(start_from, start_to, expected):
    assert wire.start_date_params(start_from, start_to, SHANGHAI) == expected


WINDOW_FROM = datetime(2024, 6, 1, 0, 0, tzinfo=UTC)
WINDOW_TO = datetime(2024, 6, 1, 6, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("start", "inside"),
    [
        (WINDOW_FROM - timedelta(seconds=1), False),
        (WINDOW_FROM, True),
        (WINDOW_TO, True),
        (WINDOW_TO + timedelta(seconds=1), False),
        (None, True),
    ],
    ids=["before", "at-lower", "at-upper", "after", "no-start"],
)
def test_started_within_is_inclusive(start, inside):
    assert wire.started_within(start, WINDOW_FROM, WINDOW_TO) is inside


def test_dialect_for_each_version():
    assert {v: wire.dialect_for(v).family for v in wire.SUPPORTED_VERSIONS} == {
        "3.0": "process",
        "3.1": "process",
        "3.2": "process",
        "3.3": "workflow",
    }
    with pytest.raises(ValueError):
        wire.dialect_for("2.0")


BIG_CODE = 2**53 + 1  # not representable as a float: codes must stay ints


@pytest.mark.parametrize(
    ("dialect", "code_key", "version_key"),
    [
        (wire.PROCESS, "processDefinitionCode", "processDefinitionVersion"),
        (wire.WORKFLOW, "workflowDefinitionCode", "workflowDefinitionVersion"),
    ],
    ids=["process", "workflow"],
)
def test_parse_instance_per_family(dialect, code_key, version_key):
    raw = {
        "id": 4711,
        code_key: BIG_CODE,
        version_key: 3,
        "name": "etl-3-1",
        "state": "FAILURE",
        "startTime": "2024-06-01 02:00:00",
        "endTime": "2024-06-01 02:05:10",
        "scheduleTime": None,
        "runTimes": 2,
        "commandType": "SCHEDULER",
        "host": "10.0.0.5:5678",
    }
    instance = wire.parse_instance(raw, dialect, project_code=77, zone=SHANGHAI, where="GET /x")
    assert instance.definition_code == BIG_CODE
    assert instance.definition_version == 3
    assert instance.project_code == 77  # 3.0/3.1 carry no projectCode: the queried project fills in
    assert instance.start_time == datetime(2024, 5, 31, 18, 0, tzinfo=UTC)
    assert instance.schedule_time is None
    assert (instance.run_times, instance.command_type, instance.state) == (2, "SCHEDULER", "FAILURE")


def test_parse_instance_keeps_ds_project_code_when_present():
    raw = {"id": 1, "processDefinitionCode": 5, "state": "SUCCESS", "projectCode": 99}
    assert (
        wire.parse_instance(raw, wire.PROCESS, project_code=77, zone=SHANGHAI, where="w").project_code == 99
    )


def test_parse_accepts_codes_as_decimal_strings():
    assert wire.parse_project({"code": str(BIG_CODE), "name": "p"}, where="w").code == BIG_CODE


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ({"name": "p"}, "'code' is missing"),
        ({"code": 1.5e15, "name": "p"}, "'code' is not an integer"),
        ({"code": True, "name": "p"}, "'code' is not an integer"),
        ({"code": "12a", "name": "p"}, "'code' is not an integer"),
        ({"code": 1, "name": 7}, "'name' is not a string"),
        (["not", "an", "object"], "list where a project object"),
    ],
    ids=["missing", "float", "bool", "junk-string", "name-type", "not-object"],
)
def test_parse_errors_name_field_and_endpoint(raw, problem):
    with pytest.raises(DSProtocolError, match=problem) as info:
        wire.parse_project(raw, where="GET /projects/list")
    assert "GET /projects/list" in str(info.value)


def test_bad_date_names_field_and_value():
    raw = {"id": 1, "processDefinitionCode": 5, "state": "FAILURE", "startTime": "2024-06-01T02:00:00Z"}
    with pytest.raises(
        DSProtocolError, match=r"'startTime' is not yyyy-MM-dd HH:mm:ss: '2024-06-01T02:00:00Z'"
    ):
        wire.parse_instance(raw, wire.PROCESS, project_code=1, zone=SHANGHAI, where="w")


@pytest.mark.parametrize(
    ("timezone_id", "expected_utc_hour"),
    [("America/New_York", 4), ("Asia/Shanghai", 16), ("", 16), ("Nowhere/Land", 16)],
    ids=["own-zone", "same-as-user", "empty-falls-back", "unknown-falls-back"],
)
def test_schedule_times_are_wall_clock_in_schedule_zone(timezone_id, expected_utc_hour):
    raw = {
        "id": 7,
        "workflowDefinitionCode": BIG_CODE,
        "crontab": "0 0 2 * * ? *",
        "timezoneId": timezone_id,
        "releaseState": "ONLINE",
        "startTime": "2024-07-01 00:00:00",
        "endTime": "2124-01-01 00:00:00",
    }
    schedule = wire.parse_schedule(raw, wire.WORKFLOW, fallback_zone=SHANGHAI, where="w")
    assert schedule.timezone_id == timezone_id
    assert schedule.definition_code == BIG_CODE
    assert schedule.online
    assert schedule.start_time.astimezone(UTC).hour == expected_utc_hour
    assert schedule.end_time.year in (2123, 2124)


def test_parse_definition_and_task():
    definition = wire.parse_definition(
        {
            "code": BIG_CODE,
            "name": "etl",
            "version": 4,
            "releaseState": "OFFLINE",
            "updateTime": "2024-01-01 08:00:00",
        },
        project_code=3,
        zone=SHANGHAI,
        where="w",
    )
    assert (definition.project_code, definition.version, definition.release_state) == (3, 4, "OFFLINE")
    assert definition.update_time == datetime(2024, 1, 1, 0, 0, tzinfo=UTC)
    task = wire.parse_task_instance(
        {
            "id": 9,
            "name": "load",
            "taskType": "SHELL",
            "state": "FAILURE",
            "startTime": "2024-06-01 02:00:02",
            "endTime": None,
            "host": "w:1234",
        },
        zone=SHANGHAI,
        where="w",
    )
    assert (task.id, task.task_type, task.end_time, task.host) == (9, "SHELL", None, "w:1234")


@pytest.mark.parametrize(
    "code, refusal",
    [
        pytest.param(50001, "GONE", id="50001-unknown-id"),
        pytest.param(10116, "GONE", id="10116-unknown-id-v3.0"),
        pytest.param(50004, "DEFINITION_OFFLINE", id="50004-offline-v3.0"),
        pytest.param(50009, "ALREADY_QUEUED", id="50009-queued-v3.0-v3.1"),
        pytest.param(10025, "NO_MASTER", id="10025-no-master"),
        pytest.param(50006, "STATE", id="50006-state-v3.0-v3.1"),
        pytest.param(50015, "STATE", id="50015-state-v3.2"),
        pytest.param(10000, "STATE", id="10000-state-v3.3"),
        pytest.param(30002, "OTHER", id="30002-other"),
    ],
)
def test_recover_refusals_are_classified_whatever_the_version(code, refusal):
    assert wire.recover_refusal(code) is wire.Refusal[refusal]
