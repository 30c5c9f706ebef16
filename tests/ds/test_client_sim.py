"""DSClient over real HTTP against the DS double (ds_monitor.simulator) on 127.0.0.1.

Every endpoint on each API generation, paging across pages, the token user's zone, retries after
injected faults, the recover action's outcomes and DS's refusal codes per version.
"""

from __future__ import annotations

import socket
import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from ds_monitor.ds.client import DSClient
from ds_monitor.ds.models import FAILURE, RUNNING_EXECUTION, SUBMITTED_SUCCESS, SUCCESS
from ds_monitor.errors import (
    ActionOutcomeUnknown,
    DSApiError,
    DSAuthError,
    DSProtocolError,
    DSUnreachable,
)
from tests.ds.helpers import make_client

T0 = datetime(2024, 6, 1, 2, 0, tzinfo=UTC)
SHANGHAI = ZoneInfo("Asia/Shanghai")


def client_for(sim, **overrides) -> DSClient:
    settings = dict(
        api_url=sim.url, token=sim.token, api_version="auto", server_timezone="auto", timeout_seconds=2
    )
    settings.update(overrides)
    return make_client(**settings)


def estate(sim) -> dict:
    """One project, two definitions (one scheduled), a failed and a successful instance, tasks."""
    pc = sim.add_project("data-platform")
    etl = sim.add_definition(pc, "daily_etl")
    sync = sim.add_definition(pc, "hourly_sync")
    sim.add_schedule(
        etl,
        "0 0 2 * * ? *",
        timezone_id="Asia/Shanghai",
        start_time=datetime(2024, 1, 1, tzinfo=SHANGHAI),
        end_time=datetime(2124, 1, 1, tzinfo=SHANGHAI),
    )
    failed = sim.add_instance(
        etl, state=FAILURE, start_time=T0, end_time=T0 + timedelta(minutes=5), schedule_time=T0
    )
    ok = sim.add_instance(
        sync, state=SUCCESS, start_time=T0 + timedelta(hours=1), end_time=T0 + timedelta(hours=2)
    )
    sim.add_task(failed, "extract", state=SUCCESS, start_time=T0, end_time=T0 + timedelta(minutes=1))
    sim.add_task(
        failed,
        "load",
        state=FAILURE,
        start_time=T0 + timedelta(minutes=1),
        end_time=T0 + timedelta(minutes=5),
        retry_times=1,
        max_retry_times=2,
        log="+ psql -f load.sql\nERROR:  relation \"stage.orders\" does not exist",
    )
    return {"pc": pc, "etl": etl, "sync": sync, "failed": failed, "ok": ok}


@pytest.mark.parametrize(
    ("version", "detected"),
    [("3.0", "3.2"), ("3.1", "3.2"), ("3.2", "3.2"), ("3.2.1", "3.2"), ("3.3", "3.3")],
    ids=["3.0", "3.1", "3.2", "3.2.1", "3.3"],
)
def test_every_endpoint_on_every_generation(make_ds_sim, version, detected):
    sim = make_ds_sim(version, user_timezone="Asia/Shanghai")
    e = estate(sim)
    client = client_for(sim)

    client.check_connection()
    assert client.timezone == SHANGHAI
    assert client.version == detected

    assert [(p.code, p.name) for p in client.list_projects()] == [(e["pc"], "data-platform")]
    assert {d.name: d.code for d in client.list_definitions(e["pc"])} == {
        "daily_etl": e["etl"],
        "hourly_sync": e["sync"],
    }

    [schedule] = client.list_schedules(e["pc"])
    assert (schedule.definition_code, schedule.crontab, schedule.timezone_id) == (
        e["etl"],
        "0 0 2 * * ? *",
        "Asia/Shanghai",
    )
    assert schedule.start_time == datetime(2024, 1, 1, tzinfo=SHANGHAI)

    everything = client.list_instances(e["pc"])
    assert [i.id for i in everything] == [e["ok"], e["failed"]]  # newest start first
    [failed] = client.list_instances(e["pc"], state=FAILURE, start_from=T0 - timedelta(hours=1), start_to=T0)
    assert (failed.id, failed.definition_code, failed.project_code) == (e["failed"], e["etl"], e["pc"])
    assert (failed.start_time, failed.schedule_time, failed.end_time) == (T0, T0, T0 + timedelta(minutes=5))
    assert [i.id for i in client.list_instances(e["pc"], definition_code=e["sync"])] == [e["ok"]]

    fresh = client.get_instance(e["pc"], e["failed"])
    assert (fresh.state, fresh.run_times, fresh.command_type) == (FAILURE, 1, "SCHEDULER")
    tasks = {t.name: t for t in client.list_task_instances(e["pc"], e["failed"])}
    assert {name: t.state for name, t in tasks.items()} == {"extract": SUCCESS, "load": FAILURE}
    load = tasks["load"]
    assert (load.task_type, load.host, load.retries, load.max_retries, load.failed) == (
        "SHELL", "127.0.0.1:1234", 1, 2, True
    )
    assert load.end_time - load.start_time == timedelta(minutes=4)
    log = client.task_log(load.id, skip_lines=0, limit=100)
    assert log.lines == ("+ psql -f load.sql", 'ERROR:  relation "stage.orders" does not exist')
    assert client.task_log(load.id, skip_lines=1, limit=100).lines == (log.lines[1],)
    with pytest.raises(DSApiError) as unknown:
        client.task_log(999_999, skip_lines=0, limit=10)
    assert unknown.value.code == 10008

    client.recover_failed_node(e["pc"], e["failed"])
    sim.master_pickup()
    after = client.get_instance(e["pc"], e["failed"])
    assert (after.state, after.run_times) == (RUNNING_EXECUTION, 2)
    assert after.start_time == T0  # recover-from-failed-node keeps the start time


def test_version_probe_is_one_extra_call(make_ds_sim):
    sim = make_ds_sim("3.3")
    pc = estate(sim)["pc"]
    client = client_for(sim, server_timezone="UTC")
    client.list_instances(pc)
    client.list_instances(pc)
    assert sim.count_calls(path_contains="/projects/0/") == 1
    assert sim.count_calls() == 3


@pytest.mark.parametrize("version", ["3.0", "3.2.1", "3.3"])
def test_paging_250_instances(make_ds_sim, version):
    sim = make_ds_sim(version)
    pc = sim.add_project("p")
    dc = sim.add_definition(pc, "d")
    ids = [sim.add_instance(dc, state=FAILURE, start_time=T0 - timedelta(minutes=n)) for n in range(250)]
    client = client_for(sim, api_version="3.3" if version == "3.3" else "3.2", server_timezone="UTC")
    found = client.list_instances(pc, state=FAILURE)
    assert sorted(i.id for i in found) == sorted(ids)
    assert sim.count_calls(path_contains="instances") == 3


@pytest.mark.parametrize("version", ["3.0.0", "3.0", "3.2", "3.3"])
def test_user_zone_window_neither_hides_nor_invents(make_ds_sim, version):
    sim = make_ds_sim(version, user_timezone="Asia/Shanghai")
    pc = sim.add_project("p")
    dc = sim.add_definition(pc, "d")
    window_from, window_to = T0, T0 + timedelta(hours=6)
    starts = {
        "8h-before": window_from - timedelta(hours=8),
        "1s-before": window_from - timedelta(seconds=1),
        "at-start": window_from,
        "inside": window_from + timedelta(hours=3),
        "at-end": window_to,
        "1s-after": window_to + timedelta(seconds=1),
        "8h-after": window_from + timedelta(hours=8),
    }
    ids = {label: sim.add_instance(dc, state=FAILURE, start_time=at) for label, at in starts.items()}
    client = client_for(sim)
    found = {
        i.id for i in client.list_instances(pc, state=FAILURE, start_from=window_from, start_to=window_to)
    }
    assert found == {ids["at-start"], ids["inside"], ids["at-end"]}
    only_lower = {i.id for i in client.list_instances(pc, state=FAILURE, start_from=window_from)}
    assert only_lower == found | {ids["1s-after"], ids["8h-after"]}


# --- faults on reads --------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["http_500", "http_502", "http_503", "http_504", "http_429", "drop"])
def test_reads_recover_from_transient_faults(ds_sim, kind):
    pc = estate(ds_sim)["pc"]
    client = client_for(ds_sim, api_version="3.2", server_timezone="UTC", max_retries=2)
    ds_sim.inject(kind, path_contains="process-instances", times=2)
    assert len(client.list_instances(pc)) == 2
    assert ds_sim.count_calls(path_contains="process-instances") == 3


@pytest.mark.parametrize(
    ("kind", "error", "message"),
    [
        ("http_503", DSProtocolError, "HTTP 503"),
        ("http_500", DSProtocolError, "HTTP 500"),
        ("drop", DSUnreachable, "connection dropped"),
        ("malformed_json", DSProtocolError, "malformed or truncated JSON"),
        ("truncated_json", DSProtocolError, "cut off"),
        ("html", DSProtocolError, "HTML page"),
        ("token_rejected", DSAuthError, "HTTP 401"),
    ],
)
def test_persistent_read_faults_become_typed_errors(ds_sim, kind, error, message):
    pc = estate(ds_sim)["pc"]
    client = client_for(ds_sim, api_version="3.2", server_timezone="UTC", max_retries=2)
    ds_sim.inject(kind, path_contains="process-instances", times=None)
    with pytest.raises(error, match=message) as info:
        client.list_instances(pc)
    assert f"/projects/{pc}/process-instances" in str(info.value)
    assert ds_sim.token not in str(info.value)


def test_read_timeout_is_retried_then_unreachable(ds_sim):
    pc = estate(ds_sim)["pc"]
    client = client_for(ds_sim, api_version="3.2", server_timezone="UTC", max_retries=1, timeout_seconds=0.2)
    ds_sim.inject("timeout", path_contains="process-instances", times=None, delay=0.6)
    with pytest.raises(DSUnreachable, match=r"no answer within 0.2s"):
        client.list_instances(pc)
    assert ds_sim.count_calls(path_contains="process-instances") == 2


def test_expired_token_is_an_auth_error(ds_sim):
    client = client_for(ds_sim)
    client.check_connection()
    ds_sim.expire_token()
    with pytest.raises(DSAuthError, match="HTTP 401"):
        client.check_connection()


def test_connection_refused_is_unreachable_for_reads_and_the_action():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = make_client(api_url=f"http://127.0.0.1:{port}/dolphinscheduler", max_retries=1)
    with pytest.raises(
        DSUnreachable, match=rf"127.0.0.1:{port} unreachable: connection refused on GET /projects/list"
    ):
        client.list_projects()
    with pytest.raises(DSUnreachable, match="connection refused on POST /projects/1/executors/execute"):
        client.recover_failed_node(1, 2)


# --- the recover action: faults --------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "error", "applied"),
    [
        ("drop", ActionOutcomeUnknown, False),
        ("drop_after_apply", ActionOutcomeUnknown, True),
        ("timeout", ActionOutcomeUnknown, None),  # DS applies it once its delay is over
        ("truncated_json", ActionOutcomeUnknown, True),
        ("malformed_json", ActionOutcomeUnknown, False),
        ("http_502", ActionOutcomeUnknown, False),
        ("http_503", ActionOutcomeUnknown, False),
        ("http_504", ActionOutcomeUnknown, False),
        ("http_500", ActionOutcomeUnknown, False),
        ("http_429", DSProtocolError, False),
        ("html", DSProtocolError, False),
        ("token_rejected", DSAuthError, False),
    ],
)
def test_recover_is_never_resent(ds_sim, kind, error, applied):
    e = estate(ds_sim)
    client = client_for(ds_sim, api_version="3.2", server_timezone="UTC", max_retries=3, timeout_seconds=0.3)
    ds_sim.inject(kind, path_contains="executors/execute", method="POST", times=None, delay=0.8)
    with pytest.raises(error) as info:
        client.recover_failed_node(e["pc"], e["failed"])
    assert ds_sim.count_calls(method="POST", path_contains="executors/execute") == 1
    assert ds_sim.token not in str(info.value)
    if applied is not None:
        assert bool(ds_sim.get_instance(e["failed"])["queued_commands"]) is applied


# --- the recover action: DS refusals per version ------------------------------------------------

STATE_REFUSAL = {"3.0": 50006, "3.1": 50006, "3.2": 50015, "3.3": 10000}
NO_MASTER = {"3.0": 10025, "3.1": 10025, "3.2": 10025, "3.3": 10000}
DUPLICATE = {"3.0": 50009, "3.1": 50009, "3.2": None, "3.3": 10000}


@pytest.mark.parametrize("version", ["3.0", "3.1", "3.2", "3.3"])
def test_recover_refusal_codes(make_ds_sim, version):
    sim = make_ds_sim(version)
    pc = sim.add_project("p")
    dc = sim.add_definition(pc, "d")
    running = sim.add_instance(dc, state=RUNNING_EXECUTION, start_time=T0)
    failed = sim.add_instance(dc, state=FAILURE, start_time=T0)
    client = client_for(sim, server_timezone="UTC")

    with pytest.raises(DSApiError) as info:
        client.recover_failed_node(pc, running)
    assert info.value.code == STATE_REFUSAL[version]
    assert info.value.endpoint == f"POST /projects/{pc}/executors/execute"

    with pytest.raises(DSApiError) as info:
        client.recover_failed_node(pc, 987654)
    assert info.value.code == 50001

    sim.master_available = False
    with pytest.raises(DSApiError) as info:
        client.recover_failed_node(pc, failed)
    assert info.value.code == NO_MASTER[version]
    sim.master_available = True

    client.recover_failed_node(pc, failed)
    if version == "3.3":
        assert client.get_instance(pc, failed).state == SUBMITTED_SUCCESS
    else:
        assert client.get_instance(pc, failed).state == FAILURE  # unchanged until a master picks it up
    if DUPLICATE[version] is None:
        client.recover_failed_node(pc, failed)  # 3.2 queues a duplicate command without complaint
        assert len(sim.get_instance(failed)["queued_commands"]) == 2
    else:
        with pytest.raises(DSApiError) as info:
            client.recover_failed_node(pc, failed)
        assert info.value.code == DUPLICATE[version]


def test_offline_definition_blocks_recover_on_30(make_ds_sim):
    sim = make_ds_sim("3.0")
    pc = sim.add_project("p")
    dc = sim.add_definition(pc, "d", release_state="OFFLINE")
    failed = sim.add_instance(dc, state=FAILURE, start_time=T0)
    with pytest.raises(DSApiError) as info:
        client_for(sim, server_timezone="UTC").recover_failed_node(pc, failed)
    assert info.value.code == 50004


@pytest.mark.parametrize(("version", "code"), [("3.0", 10116), ("3.2", 50001), ("3.3", 50001)])
def test_unknown_instance_codes(make_ds_sim, version, code):
    sim = make_ds_sim(version)
    pc = sim.add_project("p")
    with pytest.raises(DSApiError) as info:
        client_for(sim, server_timezone="UTC").get_instance(pc, 4242)
    assert info.value.code == code


def test_metrics_follow_real_calls(ds_sim):
    e = estate(ds_sim)
    client = client_for(ds_sim, clock=time.monotonic)
    client.list_projects()
    client.list_projects()
    client.list_instances(e["pc"])
    snap = client.calls.snapshot()
    assert snap["cache_hits"] == 1
    assert set(snap["per_endpoint"]) == {
        "GET /users/get-user-info",
        "GET /projects/list",
        "GET /projects/{pc}/workflow-instances",
        "GET /projects/{pc}/process-instances",
    }
    assert snap["calls"] == 4
    assert snap["latency_ms_p95"] > 0


# --- TLS -------------------------------------------------------------------------------------------


@pytest.fixture
def tls_ds():
    """A one-route HTTPS server with a certificate from a private CA (trustme)."""
    import json
    import ssl
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    import trustme

    class UserInfo(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's naming
            body = json.dumps({"code": 0, "msg": "success", "data": {"timeZone": "UTC"}}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    server = ThreadingHTTPServer(("127.0.0.1", 0), UserInfo)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{server.server_address[1]}/dolphinscheduler"
    server.shutdown()
    server.server_close()


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_untrusted_certificate_is_unreachable_unless_verify_is_off(tls_ds):
    from ds_monitor.config import DolphinSchedulerConfig

    with pytest.raises(DSUnreachable, match=r"TLS handshake failed \(CERTIFICATE_VERIFY_FAILED\)"):
        make_client(api_url=tls_ds, max_retries=0).check_connection()
    insecure = DolphinSchedulerConfig(api_url=tls_ds, token="t", verify_ssl=False, server_timezone="auto")
    with DSClient(insecure, retry_backoff=0) as client:
        client.check_connection()
        assert str(client.timezone) == "UTC"
