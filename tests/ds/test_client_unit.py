"""Narrow DSClient tests over a mocked transport (`responses`): envelope, errors, paging, dates,
version detection, retries and caching. Real-HTTP behaviour is covered in test_client_sim.py."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import pytest
import requests
import responses

from ds_monitor.ds.calls import CallStats
from ds_monitor.ds.models import Instance
from ds_monitor.errors import (
    ActionOutcomeUnknown,
    ConfigError,
    DSApiError,
    DSAuthError,
    DSProtocolError,
    DSUnreachable,
)
from tests.ds.helpers import BASE, TOKEN, FakeClock, envelope, make_client, page

SHANGHAI = ZoneInfo("Asia/Shanghai")
BIG = 2**62 + 12345  # 64-bit code


@pytest.fixture
def mock():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps


def query(call) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(call.request.url).query).items()}


# --- envelope and typed results -----------------------------------------------------------------


def test_projects_unwrap_envelope_keep_64_bit_codes_and_send_token(mock):
    mock.get(
        f"{BASE}/projects/list", json=envelope([{"code": BIG, "name": "data-platform", "userName": "x"}])
    )
    client = make_client()
    [project] = client.list_projects()
    assert (project.code, project.name) == (BIG, "data-platform")
    assert mock.calls[0].request.headers["token"] == TOKEN


# --- error translation --------------------------------------------------------------------------

ERROR_CASES = [
    pytest.param(
        dict(status=401, body=""), DSAuthError, r"HTTP 401.*GET /projects/list", id="401-empty-body"
    ),
    pytest.param(
        dict(status=200, body="<!DOCTYPE html><html>ui</html>", content_type="text/html"),
        DSProtocolError,
        r"HTML page instead of JSON \(HTTP 200\) on GET /projects/list",
        id="html-200",
    ),
    pytest.param(
        dict(status=200, body="<html>no content type</html>", content_type="application/octet-stream"),
        DSProtocolError,
        r"HTML page",
        id="html-sniffed",
    ),
    pytest.param(
        dict(
            status=200,
            body='{"code": 0, "msg": "success", "data": [{"code": 1, "na',
            content_type="application/json",
        ),
        DSProtocolError,
        r"malformed or truncated JSON \(HTTP 200, \d+ bytes\) on GET /projects/list",
        id="truncated",
    ),
    pytest.param(
        dict(status=200, json={"status": "ok"}),
        DSProtocolError,
        r"no envelope code",
        id="no-envelope",
    ),
    pytest.param(
        dict(status=200, json=envelope(None, code=10049, msg="login user query project list paging error")),
        DSApiError,
        r"DS error 10049: login user query.*\(GET /projects/list\)",
        id="non-zero-code",
    ),
    pytest.param(
        dict(status=500, body="boom"), DSProtocolError, r"HTTP 500 on GET /projects/list", id="500-exhausted"
    ),
    pytest.param(
        dict(status=429, body=""), DSProtocolError, r"HTTP 429 \(rate limited\)", id="429-exhausted"
    ),
    pytest.param(dict(status=404, body=""), DSProtocolError, r"HTTP 404 \(no such API path", id="404"),
    pytest.param(dict(status=418, body=""), DSProtocolError, r"HTTP 418 on", id="unexpected-status"),
    pytest.param(
        dict(body=requests.exceptions.ConnectionError("refused")),
        DSUnreachable,
        r"DS at 127.0.0.1:9 unreachable: connection dropped.*GET /projects/list",
        id="connection-error",
    ),
    pytest.param(
        dict(body=requests.exceptions.ReadTimeout("slow")),
        DSUnreachable,
        r"no answer within 2s",
        id="read-timeout",
    ),
    pytest.param(
        dict(body=requests.exceptions.ChunkedEncodingError("cut")),
        DSProtocolError,
        r"cut off",
        id="cut-off-body",
    ),
]


@pytest.mark.parametrize(("reply", "error", "message"), ERROR_CASES)
def test_every_failure_becomes_a_typed_one_line_error_without_token(mock, reply, error, message):
    mock.get(f"{BASE}/projects/list", **reply)
    client = make_client()
    with pytest.raises(error, match=message) as info:
        client.list_projects()
    text = str(info.value)
    assert "\n" not in text
    assert TOKEN not in text
    if error is DSApiError:
        assert (info.value.code, info.value.endpoint) == (10049, "GET /projects/list")
    assert client.calls.snapshot()["errors"] == 1


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504], ids=str)
def test_reads_are_retried_until_exhausted(mock, status):
    mock.get(f"{BASE}/projects/list", status=status, body="")
    client = make_client(max_retries=2)
    with pytest.raises(DSProtocolError, match=f"HTTP {status}"):
        client.list_projects()
    assert len(mock.calls) == 3  # first try + 2 retries
    assert client.calls.snapshot()["calls"] == 1  # retries are inside one recorded call


def test_read_succeeds_after_transient_5xx(mock):
    mock.get(f"{BASE}/projects/list", status=503, body="")
    mock.get(f"{BASE}/projects/list", json=envelope([{"code": 1, "name": "p"}]))
    assert [p.name for p in make_client().list_projects()] == ["p"]
    assert len(mock.calls) == 2


def test_multiline_ds_message_is_folded_to_one_line(mock):
    mock.get(
        f"{BASE}/projects/list", json=envelope(code=10000, msg="Internal Server Error:\n  at Foo\n  at Bar")
    )
    with pytest.raises(DSApiError) as info:
        make_client().list_projects()
    assert info.value.msg == "Internal Server Error: at Foo at Bar"


# --- the recover action: never retried once it may have been sent ----------------------------

EXECUTE = f"{BASE}/projects/5/executors/execute"


@pytest.mark.parametrize(
    ("version", "id_param"), [("3.2", "processInstanceId"), ("3.3", "workflowInstanceId")], ids=["3.2", "3.3"]
)
def test_recover_posts_form_with_family_parameter(mock, version, id_param):
    mock.post(EXECUTE, json=envelope(None))
    make_client(api_version=version).recover_failed_node(5, 4711)
    [call] = mock.calls
    assert call.request.method == "POST"
    assert parse_qs(call.request.body) == {id_param: ["4711"], "executeType": ["START_FAILURE_TASK_PROCESS"]}


@pytest.mark.parametrize(
    ("reply", "error", "message"),
    [
        pytest.param(dict(status=503, body=""), ActionOutcomeUnknown, r"answered HTTP 503", id="503"),
        pytest.param(dict(status=500, body=""), ActionOutcomeUnknown, r"answered HTTP 500", id="500"),
        pytest.param(dict(status=502, body=""), ActionOutcomeUnknown, r"answered HTTP 502", id="502"),
        pytest.param(dict(status=429, body=""), DSProtocolError, r"HTTP 429", id="429-refused-before-ds"),
        pytest.param(dict(status=401, body=""), DSAuthError, r"HTTP 401", id="401"),
        pytest.param(
            dict(body=requests.exceptions.ReadTimeout("slow")),
            ActionOutcomeUnknown,
            r"recover of instance 4711 may have reached DS but no answer came \(no answer within 2s\)",
            id="read-timeout",
        ),
        pytest.param(
            dict(body=requests.exceptions.ConnectionError("reset")),
            ActionOutcomeUnknown,
            r"no answer came \(connection dropped",
            id="dropped",
        ),
        pytest.param(
            dict(status=200, body='{"code": 0, "ms', content_type="application/json"),
            ActionOutcomeUnknown,
            r"answer was not JSON",
            id="truncated",
        ),
        pytest.param(
            dict(body=requests.exceptions.ConnectTimeout("never connected")),
            DSUnreachable,
            r"connect timed out",
            id="connect-timeout-never-sent",
        ),
        pytest.param(
            dict(json=envelope(code=50006, msg="the status of process instance x is RUNNING_EXECUTION")),
            DSApiError,
            r"DS error 50006",
            id="refused-50006",
        ),
    ],
)
def test_recover_is_sent_once_and_outcome_is_typed(mock, reply, error, message):
    mock.post(EXECUTE, **reply)
    client = make_client(max_retries=3)
    with pytest.raises(error, match=message) as info:
        client.recover_failed_node(5, 4711)
    assert len(mock.calls) == 1
    assert TOKEN not in str(info.value)


def test_schedule_list_post_is_a_read_and_is_retried(mock):
    mock.post(f"{BASE}/projects/5/schedules/list", status=502, body="")
    mock.post(f"{BASE}/projects/5/schedules/list", json=envelope([]))
    assert make_client().list_schedules(5) == []
    assert len(mock.calls) == 2


# --- paging -------------------------------------------------------------------------------------


def paged_callback(rows: list, shape: str, *, cap: int | None = None):
    """Serve ``rows`` page by page like DS; ``cap`` emulates 3.0's silent 500-row limit."""

    def callback(request):
        params = {k: v[0] for k, v in parse_qs(urlsplit(request.url).query).items()}
        page_no, size = int(params["pageNo"]), int(params["pageSize"])
        effective = min(size, cap) if cap else size
        start = (page_no - 1) * effective
        body = page(
            rows[start : start + effective], total=len(rows), page_no=page_no, page_size=size, shape=shape
        )
        return 200, {"Content-Type": "application/json"}, json.dumps(envelope(body))

    return callback


def instance_rows(n: int, *, key: str = "processDefinitionCode") -> list[dict]:
    start = datetime(2024, 6, 1, 12, tzinfo=UTC)
    return [
        {
            "id": i,
            key: BIG,
            "name": f"i{i}",
            "state": "FAILURE",
            "startTime": (start - timedelta(minutes=i)).strftime("%Y-%m-%d %H:%M:%S"),
        }
        for i in range(1, n + 1)
    ]


@pytest.mark.parametrize(
    "shape", ["start", "pageNo-null-totalPage", "pageNo"], ids=["3.0-3.2.0", "3.2.1", "3.2.2"]
)
@pytest.mark.parametrize(
    ("rows", "calls"), [(0, 1), (1, 1), (100, 1), (101, 2), (250, 3)], ids=lambda v: str(v)
)
def test_paging_follows_total_for_every_pageinfo_shape(mock, shape, rows, calls):
    mock.add_callback(
        responses.GET,
        f"{BASE}/projects/5/process-instances",
        callback=paged_callback(instance_rows(rows), shape),
    )
    instances = make_client().list_instances(5, state="FAILURE")
    assert [i.id for i in instances] == list(range(1, rows + 1))
    assert len(mock.calls) == calls
    assert [query(c)["pageNo"] for c in mock.calls] == [str(n) for n in range(1, calls + 1)]
    assert all(query(c)["pageSize"] == "100" and query(c)["stateType"] == "FAILURE" for c in mock.calls)


def test_page_size_stays_under_the_30_cap(mock):
    mock.add_callback(
        responses.GET,
        f"{BASE}/projects/5/process-instances",
        callback=paged_callback(instance_rows(620), "start", cap=500),
    )
    assert len(make_client(api_version="3.0").list_instances(5)) == 620


def test_rows_added_while_paging_are_followed_and_deduplicated(mock):
    rows = instance_rows(150)
    served = []

    def callback(request):
        page_no = int(query_of(request)["pageNo"])
        if page_no == 2:  # a new instance arrived: everything shifts down by one row
            rows.insert(0, {**rows[0], "id": 999})
        start = (page_no - 1) * 100
        served.append(page_no)
        body = page(
            rows[start : start + 100], total=len(rows), page_no=page_no, page_size=100, shape="pageNo"
        )
        return 200, {}, json.dumps(envelope(body))

    mock.add_callback(responses.GET, f"{BASE}/projects/5/process-instances", callback=callback)
    ids = [i.id for i in make_client().list_instances(5)]
    assert len(ids) == len(set(ids)) == 150  # the shifted row is not doubled; the new one came after page 1
    assert served == [1, 2]


def test_rows_deleted_between_pages_are_read_again_so_none_slips_past(mock):
    rows = instance_rows(250)
    served = []

    def callback(request):
        page_no = int(query_of(request)["pageNo"])
        if len(served) == 1:  # after the first page, 5 rows of it are deleted: the rest shift up by 5
            del rows[10:15]
        start = (page_no - 1) * 100
        served.append(page_no)
        body = page(rows[start : start + 100], total=len(rows), page_no=page_no, page_size=100, shape="pageNo")
        return 200, {}, json.dumps(envelope(body))

    mock.add_callback(responses.GET, f"{BASE}/projects/5/process-instances", callback=callback)
    ids = [i.id for i in make_client().list_instances(5)]
    # A single pass would miss rows 101-105 (shifted onto page 1 after it was read).
    assert sorted(ids) == sorted(row["id"] for row in rows) and len(ids) == 245
    assert served == [1, 2, 3, 1, 2, 3]


def test_rows_deleted_while_paging_stop_at_empty_page(mock):
    def callback(request):
        page_no = int(query_of(request)["pageNo"])
        rows = instance_rows(100) if page_no == 1 else []
        return (
            200,
            {},
            json.dumps(envelope(page(rows, total=180, page_no=page_no, page_size=100, shape="start"))),
        )

    mock.add_callback(responses.GET, f"{BASE}/projects/5/process-instances", callback=callback)
    assert len(make_client().list_instances(5)) == 100
    assert len(mock.calls) == 2


@pytest.mark.parametrize(
    "data",
    [
        None,
        [],
        {"totalList": [], "total": None},
        {"totalList": None, "total": 3},
        {"totalList": [], "total": -1},
    ],
    ids=["null", "list", "no-total", "no-list", "negative-total"],
)
def test_bad_page_objects_are_protocol_errors(mock, data):
    mock.get(f"{BASE}/projects/5/process-instances", json=envelope(data))
    with pytest.raises(DSProtocolError, match="GET /projects/5/process-instances"):
        make_client().list_instances(5)


def query_of(request) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(request.url).query).items()}


# --- dates and the token user's zone ------------------------------------------------------------


def zone_filtering_server(instances_utc: list[datetime], zone: ZoneInfo, *, lower_exclusive: bool):
    """An instance list that filters like DS: bounds read as wall-clock in the user's zone."""

    def callback(request):
        params = query_of(request)
        lower = datetime.strptime(params["startDate"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=zone)
        upper = datetime.strptime(params["endDate"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=zone)
        rows = [
            {
                "id": n,
                "processDefinitionCode": 1,
                "state": "FAILURE",
                "startTime": start.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S"),
            }
            for n, start in enumerate(instances_utc, 1)
            if (start > lower if lower_exclusive else start >= lower) and start <= upper
        ]
        return (
            200,
            {},
            json.dumps(envelope(page(rows, total=len(rows), page_no=1, page_size=100, shape="start"))),
        )

    return callback


@pytest.mark.parametrize("lower_exclusive", [True, False], ids=["3.0.0-exclusive", "3.1+-inclusive"])
def test_eight_hour_offset_never_hides_or_invents_an_instance(mock, lower_exclusive):
    window_from = datetime(2024, 6, 1, 0, 0, tzinfo=UTC)
    window_to = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
    starts = [
        window_from - timedelta(hours=8),  # would be inside if the zone were ignored one way
        window_from - timedelta(seconds=1),
        window_from,
        window_from + timedelta(hours=7, minutes=59),
        window_to,
        window_to + timedelta(seconds=1),
        window_to + timedelta(hours=8),  # would be inside if the zone were ignored the other way
    ]
    mock.get(
        f"{BASE}/users/get-user-info",
        json=envelope({"id": 1, "userName": "admin", "timeZone": "Asia/Shanghai"}),
    )
    mock.add_callback(
        responses.GET,
        f"{BASE}/projects/5/process-instances",
        callback=zone_filtering_server(starts, SHANGHAI, lower_exclusive=lower_exclusive),
    )
    client = make_client(server_timezone="auto")
    found = client.list_instances(5, state="FAILURE", start_from=window_from, start_to=window_to)
    assert [i.start_time for i in found] == [starts[2], starts[3], starts[4]]
    assert all(i.start_time.tzinfo is not None for i in found)
    sent = query(mock.calls[-1])
    assert (sent["startDate"], sent["endDate"]) == ("2024-06-01 07:59:59", "2024-06-01 20:00:00")


def test_zone_is_asked_once_per_connection(mock):
    mock.get(f"{BASE}/users/get-user-info", json=envelope({"timeZone": "Asia/Shanghai"}))
    mock.get(
        f"{BASE}/projects/5/process-instances/1",
        json=envelope(
            {"id": 1, "processDefinitionCode": 2, "state": "FAILURE", "startTime": "2024-06-01 08:00:00"}
        ),
    )
    client = make_client(server_timezone="auto")
    first = client.get_instance(5, 1)
    client.get_instance(5, 1)
    assert first.start_time == datetime(2024, 6, 1, 0, 0, tzinfo=UTC)
    assert client.timezone == SHANGHAI
    assert sum("get-user-info" in c.request.url for c in mock.calls) == 1


def test_configured_zone_skips_user_info(mock):
    mock.get(
        f"{BASE}/projects/5/process-instances/1",
        json=envelope(
            {"id": 1, "processDefinitionCode": 2, "state": "FAILURE", "startTime": "2024-06-01 08:00:00"}
        ),
    )
    client = make_client(server_timezone="Asia/Shanghai")
    assert client.get_instance(5, 1).start_time == datetime(2024, 6, 1, 0, 0, tzinfo=UTC)
    assert len(mock.calls) == 1


@pytest.mark.parametrize(
    ("answer", "zone"), [(None, "UTC"), ("", "UTC"), ("GMT+8", "GMT+8")], ids=["null", "empty", "offset"]
)
def test_user_zone_fallbacks(mock, answer, zone):
    mock.get(f"{BASE}/users/get-user-info", json=envelope({"timeZone": answer}))
    client = make_client(server_timezone="auto")
    assert (
        datetime(2024, 1, 1, tzinfo=client.timezone).utcoffset()
        == datetime(2024, 1, 1, tzinfo=_z(zone)).utcoffset()
    )


def _z(name):
    from ds_monitor.zones import parse_zone

    return parse_zone(name)


def test_unknown_user_zone_is_a_protocol_error(mock):
    mock.get(f"{BASE}/users/get-user-info", json=envelope({"timeZone": "Moon/Base"}))
    with pytest.raises(DSProtocolError, match="Moon/Base"):
        make_client(server_timezone="auto").timezone  # noqa: B018 - the property asks DS


def test_check_connection_learns_zone_and_raises_auth(mock):
    mock.get(f"{BASE}/users/get-user-info", json=envelope({"timeZone": "Asia/Shanghai"}))
    client = make_client(server_timezone="auto")
    client.check_connection()
    assert client.timezone == SHANGHAI
    assert len(mock.calls) == 1
    mock.replace(responses.GET, f"{BASE}/users/get-user-info", status=401, body="")
    with pytest.raises(DSAuthError):
        client.check_connection()


# --- version detection ----------------------------------------------------------------------------

PROBE = f"{BASE}/projects/0/workflow-instances"


@pytest.mark.parametrize(
    ("reply", "version"),
    [
        (dict(json=envelope(code=10190, msg="This project was not found. Please refresh page.")), "3.3"),
        (dict(json=envelope(page([], total=0, page_no=1, page_size=1, shape="pageNo"))), "3.3"),
        (dict(body="<html>ui</html>", content_type="text/html"), "3.2"),
        (dict(status=404, body=""), "3.2"),
    ],
    ids=["3.3-not-found-envelope", "3.3-ok-envelope", "html-ui-page", "404"],
)
def test_auto_detects_family_with_one_probe(mock, reply, version):
    mock.get(PROBE, **reply)
    client = make_client(api_version="auto")
    assert client.version == version
    assert client.version == version
    assert len(mock.calls) == 1
    assert query(mock.calls[0]) == {"pageNo": "1", "pageSize": "1"}


def test_probe_errors_are_typed(mock):
    mock.get(PROBE, status=401, body="")
    with pytest.raises(DSAuthError):
        make_client(api_version="auto").version  # noqa: B018 - the property probes DS


def test_explicit_version_never_probes(mock):
    mock.get(
        f"{BASE}/projects/5/workflow-instances",
        json=envelope(page([], total=0, page_no=1, page_size=100, shape="pageNo")),
    )
    client = make_client(api_version="3.3")
    assert client.list_instances(5, definition_code=BIG) == []
    [call] = mock.calls
    assert query(call)["workflowDefinitionCode"] == str(BIG)


@pytest.mark.parametrize(
    ("version", "definitions", "instances", "filter_param"),
    [
        ("3.0", "process-definition", "process-instances", "processDefineCode"),
        ("3.3", "workflow-definition", "workflow-instances", "workflowDefinitionCode"),
    ],
    ids=["process", "workflow"],
)
def test_paths_follow_the_family(mock, version, definitions, instances, filter_param):
    code_key = "processDefinitionCode" if version == "3.0" else "workflowDefinitionCode"
    empty = envelope(page([], total=0, page_no=1, page_size=100, shape="start"))
    mock.get(f"{BASE}/projects/5/{definitions}", json=empty)
    mock.get(f"{BASE}/projects/5/{instances}", json=empty)
    mock.get(f"{BASE}/projects/5/{instances}/7", json=envelope({"id": 7, code_key: 1, "state": "FAILURE"}))
    mock.get(
        f"{BASE}/projects/5/{instances}/7/tasks", json=envelope({"taskList": [], "processInstanceState": "x"})
    )
    client = make_client(api_version=version)
    client.list_definitions(5)
    client.list_instances(5, definition_code=3)
    assert client.get_instance(5, 7).definition_code == 1
    assert client.list_task_instances(5, 7) == []
    assert query(mock.calls[1])[filter_param] == "3"


# --- cache and metrics -------------------------------------------------------------------------


def test_listings_are_cached_for_the_ttl(mock):
    mock.get(f"{BASE}/projects/list", json=envelope([{"code": 1, "name": "p"}]))
    clock = FakeClock()
    calls = CallStats()
    client = make_client(clock=clock, calls=calls, cache_ttl_seconds=300)
    client.list_projects()
    clock.advance(299)
    client.list_projects()
    assert len(mock.calls) == 1
    clock.advance(1)
    client.list_projects()
    assert len(mock.calls) == 2
    client.invalidate_cache()
    client.list_projects()
    assert len(mock.calls) == 3
    snap = calls.snapshot()
    assert (snap["calls"], snap["cache_hits"]) == (3, 1)
    assert snap["per_endpoint"]["GET /projects/list"]["calls"] == 3


def test_cached_list_cannot_be_corrupted_by_the_caller(mock):
    mock.get(f"{BASE}/projects/list", json=envelope([{"code": 1, "name": "p"}]))
    client = make_client()
    client.list_projects().clear()
    assert len(client.list_projects()) == 1


def test_instances_are_never_cached_and_metrics_use_templates(mock):
    mock.add_callback(
        responses.GET,
        re.compile(rf"{BASE}/projects/\d+/process-instances"),
        callback=paged_callback([], "start"),
    )
    client = make_client()
    client.list_instances(5)
    client.list_instances(6)
    assert len(mock.calls) == 2
    assert client.calls.snapshot()["per_endpoint"]["GET /projects/{pc}/process-instances"]["calls"] == 2


def test_latency_is_measured_on_the_injected_clock(mock):
    clock = FakeClock()

    def slow(request):
        clock.advance(0.25)
        return 200, {}, json.dumps(envelope([]))

    mock.add_callback(responses.GET, f"{BASE}/projects/list", callback=slow)
    client = make_client(clock=clock)
    client.list_projects()
    assert client.calls.snapshot()["latency_ms_p50"] == 250.0


# --- configuration and helpers ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "key"),
    [({"api_version": "2.0"}, "api_version"), ({"server_timezone": "Mars/Base"}, "server_timezone")],
    ids=["version", "zone"],
)
def test_bad_settings_are_config_errors_naming_the_key(overrides, key):
    with pytest.raises(ConfigError, match=f"dolphinscheduler.{key}"):
        make_client(**overrides)


def test_unusable_api_url_is_a_config_error():
    with pytest.raises(ConfigError, match="api_url"):
        make_client(api_url="localhost:12345/dolphinscheduler").list_projects()


@pytest.mark.parametrize(
    ("api_url", "ui_url", "definition_code", "expected"),
    [
        (
            "http://ds:12345/dolphinscheduler/",
            "",
            None,
            "http://ds:12345/dolphinscheduler/ui/projects/5/workflow/instances/7",
        ),
        (
            "http://ds:12345/dolphinscheduler",
            "https://ds.example.com/ui/",
            99,
            "https://ds.example.com/ui/projects/5/workflow/instances/7?code=99",
        ),
    ],
    ids=["derived", "configured"],
)
def test_instance_ui_url(api_url, ui_url, definition_code, expected):
    client = make_client(api_url=api_url, ui_url=ui_url, api_version="auto")
    assert client.instance_ui_url(5, 7, definition_code) == expected


def test_instances_are_typed_models(mock):
    mock.add_callback(
        responses.GET,
        f"{BASE}/projects/5/process-instances",
        callback=paged_callback(instance_rows(2), "start"),
    )
    assert all(isinstance(i, Instance) and i.definition_code == BIG for i in make_client().list_instances(5))


def test_cache_is_per_project_and_hits_are_named_by_endpoint(mock):
    empty = envelope(page([], total=0, page_no=1, page_size=100, shape="start"))
    mock.get(f"{BASE}/projects/5/process-definition", json=empty)
    mock.get(f"{BASE}/projects/6/process-definition", json=empty)
    hits = []
    client = make_client(calls=CallStats(observer=lambda key, outcome, _s: hits.append((key, outcome))))
    client.list_definitions(5)
    client.list_definitions(6)
    client.list_definitions(5)
    assert len(mock.calls) == 2
    assert hits[-1] == ("GET /projects/{pc}/process-definition", "cache_hit")
