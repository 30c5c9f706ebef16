"""Commands with coordination.backend: config check, state export/import, status, check (spec 1, 11)."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from ds_monitor.cli import main
from ds_monitor.clock import utc_now
from ds_monitor.config import load_config
from ds_monitor.ds.models import FAILURE
from ds_monitor.errors import ConfigError, StateError
from ds_monitor.state import RECOVERY, SCHEDULE, StateStore
from ds_monitor.zkstore import ZooKeeperStore


def cli(argv, capsys) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    out = capsys.readouterr()
    return exited.value.code, out.out, out.err


@pytest.fixture
def zk_env(monkeypatch, tmp_path, zk_config):
    monkeypatch.chdir(tmp_path)
    for name, value in {
        "DS_STATE_DIR": str(tmp_path / "state"),
        "DS_COORDINATION__BACKEND": "zookeeper",
        "DS_COORDINATION__ZOOKEEPER__HOSTS": zk_config.hosts,
        "DS_COORDINATION__ZOOKEEPER__ROOT": zk_config.root,
        "DS_COORDINATION__ZOOKEEPER__SESSION_TIMEOUT_SECONDS": "2",
    }.items():
        monkeypatch.setenv(name, value)
    return zk_config


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


def test_state_moves_from_files_to_zookeeper_and_back(zk_env, tmp_path, capsys, monkeypatch, make_coordinator):
    files = StateStore(tmp_path / "state")
    files.save(RECOVERY, {"instances": {"7": {"attempts": 1}}})
    files.save(SCHEDULE, {"definitions": {"1": {"next": "x"}}})
    monkeypatch.setenv("DS_COORDINATION__BACKEND", "none")
    code, out, err = cli(["state", "export", str(tmp_path / "export.json")], capsys)
    assert code == 0, err
    exported = json.loads((tmp_path / "export.json").read_text())
    assert exported["documents"][RECOVERY]["instances"] == {"7": {"attempts": 1}}

    monkeypatch.setenv("DS_COORDINATION__BACKEND", "zookeeper")
    code, out, err = cli(["state", "import", str(tmp_path / "export.json")], capsys)
    assert code == 0, err
    assert f"into zookeeper {zk_env.hosts} {zk_env.root}" in out
    reader = make_coordinator("reader")
    assert ZooKeeperStore(reader, writable=False).load(SCHEDULE)["definitions"] == {"1": {"next": "x"}}

    code, out, err = cli(["state", "export", "-"], capsys)
    assert code == 0, err
    assert json.loads(out)["documents"] == exported["documents"]

    monkeypatch.setenv("DS_STATE_DIR", str(tmp_path / "other-host"))
    monkeypatch.setenv("DS_COORDINATION__BACKEND", "none")
    (tmp_path / "from-zk.json").write_text(out)
    code, _, err = cli(["state", "import", str(tmp_path / "from-zk.json")], capsys)
    assert code == 0, err
    assert StateStore(tmp_path / "other-host").load(RECOVERY)["instances"] == {"7": {"attempts": 1}}


def test_import_is_refused_while_a_replica_leads_and_bad_files_are_usage_errors(zk_env, tmp_path, capsys,
                                                                                make_coordinator):
    (tmp_path / "bad.json").write_text('{"format": "ds-monitor-state", "version": 1, "documents": {"x.json": {}}}')
    code, _, err = cli(["state", "import", str(tmp_path / "bad.json")], capsys)
    assert code == 2 and "unknown state document 'x.json'" in err
    (tmp_path / "ok.json").write_text('{"format": "ds-monitor-state", "version": 1, "documents": {}}')
    assert make_coordinator("replica-a").try_lead()
    code, _, err = cli(["state", "import", str(tmp_path / "ok.json")], capsys)
    assert code == 1 and "replica replica-a leads" in err


def test_unreachable_zookeeper_is_one_clear_line(monkeypatch, tmp_path, capsys):
    from tests.coordination.zkserver import free_port

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DS_COORDINATION__BACKEND", "zookeeper")
    monkeypatch.setenv("DS_COORDINATION__ZOOKEEPER__HOSTS", f"127.0.0.1:{free_port()}")
    monkeypatch.setenv("DS_COORDINATION__ZOOKEEPER__SESSION_TIMEOUT_SECONDS", "1")
    code, _, err = cli(["status"], capsys)
    assert code == 1
    assert err.startswith("error: ZooKeeper at 127.0.0.1:") and "unreachable" in err
    assert "Traceback" not in err


def test_check_acts_only_as_leader_and_status_shows_the_leader(zk_env, make_ds_sim, capsys, monkeypatch,
                                                               make_coordinator):
    now = utc_now()
    sim = make_ds_sim(version="3.2", token="test-token")
    project = sim.add_project("data-platform")
    definition = sim.add_definition(project, "etl")
    start = now - timedelta(minutes=30)
    failed = sim.add_instance(definition, state=FAILURE, start_time=start, end_time=start + timedelta(minutes=1))
    monkeypatch.setenv("DS_API_URL", sim.url)
    monkeypatch.setenv("DS_TOKEN", "test-token")
    monkeypatch.setenv("DS_RETRY__RECOVERY_INTERVAL", "0")

    other = make_coordinator("replica-a")
    assert other.try_lead()
    code, _, err = cli(["check"], capsys)
    assert code == 1 and "`check` acts only as the leader" in err
    code, out, err = cli(["check", "--dry-run", "--json"], capsys)
    assert code == 0, err
    report = json.loads(out)
    assert report["role"] == "standby"
    assert [r["result"] for r in report["recoveries"]] == ["dry_run"]
    assert sim.count_calls("POST", "execute") == 0

    code, out, err = cli(["status", "--json"], capsys)
    assert code == 0, err
    status = json.loads(out)
    assert status["coordination"] == {"backend": "zookeeper", "role": "observer", "leader": "replica-a"}

    other.step_down()
    code, out, err = cli(["check", "--json"], capsys)
    assert code == 0, err
    report = json.loads(out)
    assert report["role"] == "leader"
    assert [(r["instance_id"], r["result"]) for r in report["recoveries"]] == [(failed, "triggered")]
    code, out, _ = cli(["status", "--json"], capsys)
    recovery = json.loads(out)["recovery"]
    assert [row["instance_id"] for row in recovery] == [failed]
    assert sim.count_calls("POST", "execute") == 1


def test_silences_are_added_beside_a_running_leader_with_compare_and_set(zk_env, capsys, make_coordinator):
    from ds_monitor.state import SILENCES

    leader = make_coordinator("replica-a")
    assert leader.try_lead()
    leader_store = ZooKeeperStore(leader)
    assert leader_store.load(SILENCES) == {}
    code, out, err = cli(["silence", "add", "--project", "data-*", "--for", "2h", "--reason", "DS upgrade"], capsys)
    assert code == 0, err
    silence_id = out.strip()
    code, out, err = cli(["silence", "list", "--json"], capsys)
    assert code == 0, err
    assert [row["id"] for row in json.loads(out)] == [silence_id]
    # The leader read before the add: its write would lose the silence, so it is refused.
    with pytest.raises(StateError, match="compare-and-set"):
        leader_store.save(SILENCES, {"silences": []})
    assert [s["id"] for s in leader_store.load(SILENCES)["silences"]] == [silence_id]
