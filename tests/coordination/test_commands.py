"""Commands with coordination.backend: config check, state export/import, status, check (spec 1, 11)."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from ds_monitor.clock import utc_now
from ds_monitor.config import load_config
from ds_monitor.ds.models import FAILURE
from ds_monitor.errors import ConfigError, StateError
from ds_monitor.state import RECOVERY, SCHEDULE
from ds_monitor.state.files import StateStore
from ds_monitor.state.zookeeper import ZooKeeperStore


@pytest.fixture
def zk_env(tmp_path, zk_config) -> dict[str, str]:
    """The environment of a command on the test's ZooKeeper (``run_cli(..., env=zk_env)``)."""
    return {
        "DS_STATE_DIR": str(tmp_path / "state"),
        "DS_COORDINATION__BACKEND": "zookeeper",
        "DS_COORDINATION__ZOOKEEPER__HOSTS": zk_config.hosts,
        "DS_COORDINATION__ZOOKEEPER__ROOT": zk_config.root,
        "DS_COORDINATION__ZOOKEEPER__SESSION_TIMEOUT_SECONDS": "2",
    }


@pytest.mark.parametrize(
    "env, message",
    [
        ({"DS_COORDINATION__BACKEND": "zookeeper"}, "coordination.zookeeper.hosts: empty"),
        ({"DS_COORDINATION__BACKEND": "etcd"}, "coordination.backend (environment variable DS_COORDINATION__BACKEND)"),
        ({"DS_COORDINATION__ZOOKEEPER__ROOT": "ds-monitor"}, "coordination.zookeeper.root"),
        ({"DS_COORDINATION__ZOOKEEPER__ROOT": "/zookeeper"}, "reserved"),
        ({"DS_COORDINATION__ZOOKEEPER__HOSTS": "zk1:99999"}, "port must be a number"),
        ({"DS_COORDINATION__ZOOKEEPER__HOSTS": "zk1:2181/chroot"}, "chroot"),
        ({"DS_COORDINATION__ZOOKEEPER__SESSION_TIMEOUT_SECONDS": "0.5"}, "session_timeout_seconds"),
    ],
)
def test_config_names_the_bad_coordination_key(env, message):
    with pytest.raises(ConfigError) as err:
        load_config(None, environ=env, dotenv_path=None)
    assert message in str(err.value)


def test_good_hosts_are_accepted():
    env = {"DS_COORDINATION__BACKEND": "zookeeper", "DS_COORDINATION__ZOOKEEPER__HOSTS": "zk1:2181, zk2,10.0.0.3:2182"}
    assert load_config(None, environ=env, dotenv_path=None).config.coordination.backend == "zookeeper"


def test_state_moves_from_files_to_zookeeper_and_back(zk_env, zk_config, tmp_path, run_cli, make_coordinator):
    files = StateStore(tmp_path / "state")
    files.save(RECOVERY, {"instances": {"7": {"attempts": 1}}})
    files.save(SCHEDULE, {"definitions": {"1": {"next": "x"}}})
    on_files = {**zk_env, "DS_COORDINATION__BACKEND": "none"}
    result = run_cli("state", "export", str(tmp_path / "export.json"), env=on_files)
    assert result.exit_code == 0, result.stderr
    exported = json.loads((tmp_path / "export.json").read_text())
    assert exported["documents"][RECOVERY]["instances"] == {"7": {"attempts": 1}}

    result = run_cli("state", "import", str(tmp_path / "export.json"), env=zk_env)
    assert result.exit_code == 0, result.stderr
    assert f"into zookeeper {zk_config.hosts} {zk_config.root}" in result.stdout
    reader = make_coordinator("reader")
    assert ZooKeeperStore(reader, writable=False).load(SCHEDULE)["definitions"] == {"1": {"next": "x"}}

    result = run_cli("state", "export", "-", env=zk_env)
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["documents"] == exported["documents"]

    other_host = {**on_files, "DS_STATE_DIR": str(tmp_path / "other-host")}
    (tmp_path / "from-zk.json").write_text(result.stdout)
    result = run_cli("state", "import", str(tmp_path / "from-zk.json"), env=other_host)
    assert result.exit_code == 0, result.stderr
    assert StateStore(tmp_path / "other-host").load(RECOVERY)["instances"] == {"7": {"attempts": 1}}


def test_import_is_refused_while_a_replica_leads_and_bad_files_are_usage_errors(zk_env, tmp_path, run_cli,
                                                                                make_coordinator):
    (tmp_path / "bad.json").write_text('{"format": "ds-monitor-state", "version": 1, "documents": {"x.json": {}}}')
    result = run_cli("state", "import", str(tmp_path / "bad.json"), env=zk_env)
    assert result.exit_code == 2 and "unknown state document 'x.json'" in result.stderr
    (tmp_path / "ok.json").write_text('{"format": "ds-monitor-state", "version": 1, "documents": {}}')
    assert make_coordinator("replica-a").try_lead()
    result = run_cli("state", "import", str(tmp_path / "ok.json"), env=zk_env)
    assert result.exit_code == 1 and "replica replica-a leads" in result.stderr


def test_unreachable_zookeeper_is_one_clear_line(run_cli):
    from tests.coordination.zkserver import free_port

    env = {
        "DS_COORDINATION__BACKEND": "zookeeper",
        "DS_COORDINATION__ZOOKEEPER__HOSTS": f"127.0.0.1:{free_port()}",
        "DS_COORDINATION__ZOOKEEPER__SESSION_TIMEOUT_SECONDS": "1",
    }
    result = run_cli("status", env=env)
    assert result.exit_code == 1
    assert result.stderr.startswith("error: ZooKeeper at 127.0.0.1:") and "unreachable" in result.stderr
    assert "Traceback" not in result.stderr


def test_check_acts_only_as_leader_and_status_shows_the_leader(zk_env, make_ds_sim, run_cli, make_coordinator):
    now = utc_now()
    sim = make_ds_sim(version="3.2", token="test-token")
    project = sim.add_project("data-platform")
    definition = sim.add_definition(project, "etl")
    start = now - timedelta(minutes=30)
    failed = sim.add_instance(definition, state=FAILURE, start_time=start, end_time=start + timedelta(minutes=1))
    env = {**zk_env, "DS_API_URL": sim.url, "DS_TOKEN": "test-token", "DS_RETRY__RECOVERY_INTERVAL": "0"}

    other = make_coordinator("replica-a")
    assert other.try_lead()
    result = run_cli("check", env=env)
    assert result.exit_code == 1 and "`check` acts only as the leader" in result.stderr
    result = run_cli("check", "--dry-run", "--json", env=env)
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["role"] == "standby"
    assert [r["result"] for r in report["recoveries"]] == ["dry_run"]
    assert sim.count_calls("POST", "execute") == 0

    result = run_cli("status", "--json", env=env)
    assert result.exit_code == 0, result.stderr
    status = json.loads(result.stdout)
    assert status["coordination"] == {"backend": "zookeeper", "role": "observer", "leader": "replica-a"}

    other.step_down()
    result = run_cli("check", "--json", env=env)
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["role"] == "leader"
    assert [(r["instance_id"], r["result"]) for r in report["recoveries"]] == [(failed, "triggered")]
    result = run_cli("status", "--json", env=env)
    recovery = json.loads(result.stdout)["recovery"]
    assert [row["instance_id"] for row in recovery] == [failed]
    assert sim.count_calls("POST", "execute") == 1


def test_silences_are_added_beside_a_running_leader_with_compare_and_set(zk_env, run_cli, make_coordinator):
    from ds_monitor.state import SILENCES

    leader = make_coordinator("replica-a")
    assert leader.try_lead()
    leader_store = ZooKeeperStore(leader)
    assert leader_store.load(SILENCES) == {}
    result = run_cli("silence", "add", "--project", "data-*", "--for", "2h", "--reason", "DS upgrade", env=zk_env)
    assert result.exit_code == 0, result.stderr
    silence_id = result.stdout.strip()
    result = run_cli("silence", "list", "--json", env=zk_env)
    assert result.exit_code == 0, result.stderr
    assert [row["id"] for row in json.loads(result.stdout)] == [silence_id]
    # The leader read before the add: its write would lose the silence, so it is refused.
    with pytest.raises(StateError, match="compare-and-set"):
        leader_store.save(SILENCES, {"silences": []})
    assert [s["id"] for s in leader_store.load(SILENCES)["silences"]] == [silence_id]
