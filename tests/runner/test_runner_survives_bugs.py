"""The run loop outlives its own bugs (spec section 7): an exception escaping a sweep is logged with
its traceback, counted, shown by /readyz, and the loop sweeps again at the next interval."""

from __future__ import annotations

from dataclasses import replace

from ds_monitor.config import Config, LoadedConfig, MonitorConfig
from ds_monitor.runner import Runner
from ds_monitor.sweep.report import SweepReport
from ds_monitor.telemetry import MonitorMetrics
from tests.sweep.e2e import NOW


class BuggyMonitor:
    """Raises on its first sweep (a bug past the monitor's own guard), then works; stops the loop after 3."""

    def __init__(self, runner_box: list):
        self.runner_box = runner_box
        self.sweeps: list = []
        self.closed = False

    def sweep(self, now):
        self.sweeps.append(now)
        if len(self.sweeps) == 1:
            raise ZeroDivisionError("planted bug")
        if len(self.sweeps) == 3:
            self.runner_box[0].request_stop()
        return SweepReport(started_at=now, finished_at=now)

    def close(self):
        self.closed = True


def test_the_loop_goes_on_after_an_exception_escapes_a_sweep(tmp_path, caplog):
    config = replace(Config(), monitor=replace(MonitorConfig(), check_interval=1), state_dir=str(tmp_path))
    loaded = LoadedConfig(config=config, sources={}, path=None, file_found=False)
    box: list = []
    monitors: list[BuggyMonitor] = []
    telemetry = MonitorMetrics()

    def build(loaded):
        monitors.append(BuggyMonitor(box))
        return monitors[-1]

    runner = Runner(loaded, reload=lambda: loaded, build=build, telemetry=telemetry, clock=lambda: NOW)
    runner.stop_event.wait = lambda timeout=None: runner.stop_event.is_set()  # no real waiting between sweeps
    box.append(runner)

    runner.run()
    assert len(monitors) == 1 and len(monitors[0].sweeps) == 3 and monitors[0].closed
    assert "planted bug" in caplog.text and "Traceback" in caplog.text
    metrics = telemetry.registry.get_sample_value("ds_monitor_sweep_errors_total", {"reason": "internal_error"})
    assert metrics == 1
