"""The composition root: the one place that wires the parts of a monitor together.

The DS client (with its call statistics), the state store, the notifier and its senders, the
telemetry, the heartbeat, the monitor and the run loop are built here and nowhere else; the parts
themselves never construct each other. The clock is a parameter of every function here: the CLI
entry passes the wall clock (:func:`ds_monitor.clock.utc_now`), tests and the demo their own, and
it reaches the state store, the run loop and, through the loop, every ``Monitor.sweep(now)``.

With ZooKeeper (``coordination.backend: zookeeper``) the state lives in ZooKeeper and every state
write, DS action and send passes the leadership fence first.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from ds_monitor.config import Config, LoadedConfig
from ds_monitor.monitor import Monitor
from ds_monitor.notify import NotificationManager
from ds_monitor.state.backends import check_replica, uses_zookeeper
from ds_monitor.state.files import StateStore
from ds_monitor.sweep.report import SweepReport

Clock = Callable[[], datetime]


def build_monitor(
    config: Config,
    *,
    clock: Clock,
    senders: list | None = None,
    dry_run: bool = False,
    telemetry=None,
    coordinator=None,
    **client_options,
) -> Monitor:
    """A monitor for ``config``: DS client with call metrics, state store, notifier, heartbeat.

    ``senders`` replaces the channels built from ``config.notification`` (the demo prints instead of
    sending; tests pass recorders); ``client_options`` go to :class:`~ds_monitor.ds.client.DSClient`.
    ``telemetry`` (a :class:`~ds_monitor.telemetry.MonitorMetrics`) receives the DS call figures and
    the heartbeat results; ``coordinator`` is the replica's ZooKeeper session, or None.
    """
    from ds_monitor.ds.calls import CallStats
    from ds_monitor.ds.client import DSClient

    calls = CallStats(observer=telemetry.ds_call if telemetry is not None else None)
    client = DSClient(config.dolphinscheduler, calls=calls, **client_options)
    if coordinator is None:
        store = StateStore(config.state_dir, clock=clock)
    else:
        from ds_monitor.coordination import FencedClient, FencedSender
        from ds_monitor.notify import build_senders
        from ds_monitor.state.zookeeper import ZooKeeperStore

        client = FencedClient(client, coordinator.fence)
        senders = build_senders(config.notification) if senders is None else senders
        senders = [FencedSender(sender, coordinator.fence) for sender in senders]
        store = ZooKeeperStore(coordinator, writable=not dry_run, clock=clock)
    notifier = NotificationManager(config.notification, senders=senders)
    heartbeat = None
    if config.monitor.heartbeat_url:
        from ds_monitor.heartbeat import Heartbeat

        heartbeat = Heartbeat(
            config.monitor.heartbeat_url, on_result=telemetry.heartbeat if telemetry is not None else None
        )
    monitor = Monitor(
        config,
        client,
        store,
        notifier,
        calls=calls,
        telemetry=telemetry,
        dry_run=dry_run,
        heartbeat=heartbeat,
    )
    if coordinator is not None:
        monitor.role = coordinator.role
    return monitor


def check(loaded: LoadedConfig, *, dry_run: bool, clock: Clock) -> SweepReport:
    """``check``: one sweep at ``clock()``; with ZooKeeper only as the leader (or with ``dry_run``)."""
    with check_replica(loaded.config, dry_run=dry_run) as coordinator:
        monitor = build_monitor(loaded.config, clock=clock, dry_run=dry_run, coordinator=coordinator)
        try:
            return monitor.sweep(clock())
        finally:
            monitor.close()


def run(
    loaded: LoadedConfig,
    *,
    reload: Callable[[], LoadedConfig],
    clock: Clock,
    http_port: int | None = None,
    once: bool = False,
) -> None:
    """``run``: the loop of :class:`~ds_monitor.runner.Runner` until a stop (or one sweep with ``once``).

    One telemetry registry lives as long as the process, across config reloads; each reload builds
    a new monitor on it. With ZooKeeper the replica's session is opened by the loop and closed here.
    """
    from ds_monitor.runner import Runner
    from ds_monitor.telemetry import MonitorMetrics

    telemetry = MonitorMetrics()
    coordinator = None
    if uses_zookeeper(loaded.config):
        from ds_monitor.coordination import Coordinator

        coordinator = Coordinator(loaded.config.coordination.zookeeper)

    def build(current: LoadedConfig) -> Monitor:
        return build_monitor(current.config, clock=clock, telemetry=telemetry, coordinator=coordinator)

    runner = Runner(
        loaded,
        reload=reload,
        build=build,
        telemetry=telemetry,
        clock=clock,
        coordinator=coordinator,
        http_port=http_port,
        once=once,
    )
    try:
        runner.run()
    finally:
        if coordinator is not None:
            coordinator.close()
