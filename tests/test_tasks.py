"""Failed tasks and log excerpts: the pure excerpt rules, and the reader against the DS double."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ds_monitor.classify import SHIPPED_PATTERNS, Pattern
from ds_monitor.ds.models import Instance
from ds_monitor.ds.models import TaskInstance as TaskInstanceModel
from ds_monitor.tasks import ExcerptLimits, FailureMemory, TaskReader, diagnose, excerpt
from tests.ds.helpers import make_client

T0 = datetime(2024, 6, 1, 2, 0, tzinfo=UTC)
LIMITS = ExcerptLimits()


def test_excerpt_centres_on_the_first_error_line():
    lines = [f"[INFO] step {n}" for n in range(50)] + ["ERROR 1064 (42000): syntax"] + ["[INFO] tail"] * 50

    text = excerpt(lines, LIMITS).splitlines()

    assert text[0] == "[INFO] step 47"  # three lines of context before the error
    assert text[3] == "ERROR 1064 (42000): syntax"
    assert len(text) == 20


def test_excerpt_without_error_shows_the_last_lines():
    lines = [f"line {n}" for n in range(100)]

    assert excerpt(lines, ExcerptLimits(max_lines=5)).splitlines() == [f"line {n}" for n in range(95, 100)]


def test_excerpt_bytes_drop_whole_lines_then_cut_one_on_a_character_boundary():
    lines = ["ERROR 数据" * 10, "second line"]

    short = excerpt(lines, ExcerptLimits(max_bytes=60))

    assert "second line" not in short
    assert len(short.encode("utf-8")) <= 60 and short.endswith("…")
    assert len(excerpt(lines, ExcerptLimits(max_bytes=2048)).splitlines()) == 2


def test_excerpt_masks_secrets_like_the_logs():
    lines = ["mysql -h db -u etl --password=s3cr3tpw", "curl https://x/y?access_token=abcdef", "ERROR boom"]

    text = excerpt(lines, LIMITS, secrets=["topsecret-token"])

    assert "s3cr3tpw" not in text and "abcdef" not in text
    assert "password=***" in text
    assert excerpt(["token topsecret-token leaked", "ERROR"], LIMITS, ["topsecret-token"]).startswith("token ***")


def _estate(sim):
    project = sim.add_project("dp")
    definition = sim.add_definition(project, "etl")
    instance_id = sim.add_instance(definition, state="FAILURE", start_time=T0, end_time=T0 + timedelta(minutes=5))
    return project, definition, instance_id


def _instance(project, definition, instance_id, state="FAILURE"):
    return Instance(id=instance_id, definition_code=definition, name="x", state=state, project_code=project)


@pytest.mark.parametrize("version", ["3.0", "3.3"])
def test_reader_reads_failed_tasks_once_each_and_classifies(make_ds_sim, version):
    sim = make_ds_sim(version)
    project, definition, instance_id = _estate(sim)
    sim.add_task(instance_id, "extract", state="SUCCESS", start_time=T0, end_time=T0 + timedelta(minutes=1))
    sim.add_task(
        instance_id, "load", task_type="SQL", start_time=T0 + timedelta(minutes=1),
        end_time=T0 + timedelta(minutes=3), retry_times=1, max_retry_times=1,
        log="[INFO] run load.sql\nERROR 1146 (42S02): Table 'dw.stage_orders' doesn't exist\n[ERROR] task failed",
    )  # fmt: skip
    client = make_client(api_url=sim.url, token=sim.token, api_version=version)
    reader = TaskReader(client, limits=LIMITS, patterns=SHIPPED_PATTERNS)

    diagnosis = reader.read(_instance(project, definition, instance_id))

    assert reader.calls == 2  # the task list, one log page
    assert sim.count_calls(path_contains="/log/detail") == 1
    [task] = diagnosis.tasks
    assert (task.name, task.type, task.host, task.retries, task.max_retries, task.duration_seconds) == (
        "load", "SQL", "127.0.0.1:1234", 1, 1, 120
    )
    assert task.log_excerpt.splitlines()[1].startswith("ERROR 1146")
    assert diagnosis.klass == "deterministic"
    assert diagnosis.line == "ERROR 1146 (42S02): Table 'dw.stage_orders' doesn't exist"
    param = "workflowInstanceId" if version == "3.3" else "processInstanceId"
    assert task.ui_url.endswith(f"/task/instances?{param}={instance_id}&taskName=load")


def test_unreadable_logs_degrade_to_a_reason(make_ds_sim):
    sim = make_ds_sim("3.2")
    project, definition, instance_id = _estate(sim)
    sim.add_task(instance_id, "queued", state="NEED_FAULT_TOLERANCE", host=None)
    sim.add_task(instance_id, "load", start_time=T0, log="ERROR x")
    sim.inject("http_500", path_contains="/log/detail", times=None)
    client = make_client(api_url=sim.url, token=sim.token, max_retries=0)
    reader = TaskReader(client, limits=LIMITS, patterns=SHIPPED_PATTERNS)

    diagnosis = reader.read(_instance(project, definition, instance_id))

    excerpts = {t.name: t.log_excerpt for t in diagnosis.tasks}
    assert excerpts["queued"].startswith("log unavailable: ")
    assert excerpts["load"].startswith("log unavailable: DS answered HTTP 500")
    assert diagnosis.klass == "transient"  # the NEED_FAULT_TOLERANCE task: its worker was lost


def test_unreadable_task_list_and_switched_off_reads(make_ds_sim):
    sim = make_ds_sim("3.2")
    project, definition, instance_id = _estate(sim)
    client = make_client(api_url=sim.url, token=sim.token, max_retries=0)
    sim.inject("http_500", path_contains="/tasks", times=None)

    broken = TaskReader(client, limits=LIMITS, patterns=SHIPPED_PATTERNS).read(
        _instance(project, definition, instance_id)
    )
    off = TaskReader(client, limits=ExcerptLimits(enabled=False), patterns=SHIPPED_PATTERNS)
    quiet = off.read(_instance(project, definition, instance_id, state="NEED_FAULT_TOLERANCE"))

    assert broken.note.startswith("task list unavailable: ") and broken.klass == "unknown"
    assert (off.calls, quiet.klass, quiet.tasks) == (0, "transient", ())


def test_memory_keeps_one_diagnosis_per_attempt_and_prunes():
    memory = FailureMemory()
    first = TaskReader(None, limits=ExcerptLimits(enabled=False), patterns=()).read(
        Instance(id=7, definition_code=1, name="x", state="FAILURE", run_times=1)
    )
    memory.put(first, T0)
    again = FailureMemory.load({"failures": memory.dump(T0, timedelta(hours=24))})

    assert memory.get(Instance(id=7, definition_code=1, name="x", state="FAILURE", run_times=1)) == first
    assert again.get(Instance(id=7, definition_code=1, name="x", state="FAILURE", run_times=1)) == first
    assert again.get(Instance(id=7, definition_code=1, name="x", state="FAILURE", run_times=2)) is None
    assert again.dump(T0 + timedelta(days=9), timedelta(hours=24)) == {}
    assert FailureMemory.load({"failures": {"7": {"diagnosis": "junk"}}}).entries == {}


def test_a_failed_sub_workflow_is_named_by_its_task(make_ds_sim):
    sim = make_ds_sim("3.3")
    project, definition, instance_id = _estate(sim)
    sim.add_task(instance_id, "run_child_etl", task_type="SUB_WORKFLOW", start_time=T0, end_time=T0, log="")
    client = make_client(api_url=sim.url, token=sim.token, api_version="3.3")

    diagnosis = TaskReader(client, limits=LIMITS, patterns=SHIPPED_PATTERNS).read(
        _instance(project, definition, instance_id)
    )

    [task] = diagnosis.tasks
    assert (task.name, task.type, task.log_excerpt, diagnosis.klass) == ("run_child_etl", "SUB_WORKFLOW", "", "unknown")


def test_memory_keeps_no_excerpt_and_a_short_line_in_the_state():
    long_line = "ERROR " + "x" * 1000
    diagnosis = diagnose(
        Instance(id=8, definition_code=1, name="x", state="FAILURE"),
        [(TaskInstanceModel(id=1, name="load", task_type="SQL", state="FAILURE"), [long_line], "")],
        patterns=(Pattern.compile("ERROR", "deterministic"),),
        limits=LIMITS,
    )
    memory = FailureMemory()
    memory.put(diagnosis, T0)

    kept = FailureMemory.load({"failures": memory.dump(T0, timedelta(hours=24))}).latest(8)

    assert memory.latest(8) == diagnosis  # this sweep: whole
    assert kept.tasks[0].log_excerpt == "" and len(kept.line) == 300 and kept.klass == "deterministic"
