"""SIGHUP may not move state_dir: the run lock would stay behind and a second daemon be accepted (issue 15 item 9)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from ds_monitor.config import Config, LoadedConfig, MonitorConfig
from ds_monitor.errors import StateError
from ds_monitor.runner import Runner
from ds_monitor.state.files import exclusive_run
from ds_monitor.sweep.report import SweepReport
from ds_monitor.telemetry import MonitorMetrics
from tests.sweep.e2e import NOW


class ScriptedMonitor:
    """Asks for a reload after its first sweep and a stop after its second."""

    def __init__(self, runner_box: list, sweeps: list):
        self.runner_box = runner_box
        self.sweeps = sweeps  # shared by the monitors a reload builds

    def sweep(self, now):
        self.sweeps.append(now)
        runner = self.runner_box[0]
        if len(self.sweeps) == 1:
            runner.request_reload()
        else:
            # While this daemon runs, its state_dir is still locked: a second one is refused.
            state_dir = runner.loaded.config.state_dir
            with pytest.raises(StateError, match="already uses state_dir"), exclusive_run(state_dir):
                pass
            runner.request_stop()
        return SweepReport(started_at=now, finished_at=now)

    def close(self):
        pass


def loaded_for(state_dir, interval: int = 1) -> LoadedConfig:
    config = replace(Config(), monitor=replace(MonitorConfig(), check_interval=interval), state_dir=str(state_dir))
    return LoadedConfig(config=config, sources={}, path=None, file_found=False)


def run_with_reload(tmp_path, new: LoadedConfig) -> tuple[Runner, list[ScriptedMonitor]]:
    box: list = []
    sweeps: list = []
    built: list[ScriptedMonitor] = []

    def build(loaded):
        built.append(ScriptedMonitor(box, sweeps))
        return built[-1]

    runner = Runner(
        loaded_for(tmp_path / "a"), reload=lambda: new, build=build, telemetry=MonitorMetrics(), clock=lambda: NOW
    )
    runner.stop_event.wait = lambda timeout=None: runner.stop_event.is_set()
    box.append(runner)
    runner.run()
    return runner, built


def test_a_reload_that_moves_state_dir_is_refused(tmp_path, caplog):
    runner, built = run_with_reload(tmp_path, loaded_for(tmp_path / "b"))
    assert runner.loaded.config.state_dir == str(tmp_path / "a")
    assert len(built) == 1
    assert "config reload refused, keeping the running configuration: state_dir changed" in caplog.text
    assert "restart ds-monitor" in caplog.text


def test_a_reload_that_keeps_state_dir_is_applied(tmp_path, caplog):
    runner, built = run_with_reload(tmp_path, loaded_for(tmp_path / "a", interval=7))
    assert runner.loaded.config.monitor.check_interval == 7
    assert len(built) == 2 and "refused" not in caplog.text


def test_a_reload_that_changes_coordination_is_refused(tmp_path, caplog):
    new = loaded_for(tmp_path / "a")
    coordination = replace(new.config.coordination, zookeeper=replace(new.config.coordination.zookeeper, root="/x"))
    new = replace(new, config=replace(new.config, coordination=coordination))
    runner, built = run_with_reload(tmp_path, new)
    assert len(built) == 1 and "coordination.* changes need a restart" in caplog.text
