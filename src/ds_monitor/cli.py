"""The ``python main.py`` command line: parses options, prints results, maps errors to exit codes.

Nothing imports this module. ``check`` and ``run`` get their monitor from the composition root
(:mod:`ds_monitor.app`). Errors raised anywhere below, commands included, carry their exit code
(:mod:`ds_monitor.errors`); :func:`main` alone prints them as one line, with a traceback only at DEBUG.
"""

from __future__ import annotations

import functools
import json
import logging
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import NoReturn

import click

from ds_monitor import __version__
from ds_monitor.clock import utc_now
from ds_monitor.config import LOG_LEVELS, LoadedConfig, load_config
from ds_monitor.ds.dialect import SUPPORTED_VERSIONS
from ds_monitor.errors import INTERNAL_ERROR_EXIT, ConfigError, MonitorError, ReportedFailure
from ds_monitor.logging_setup import setup_logging
from ds_monitor.notify.validation import validate_notification_config
from ds_monitor.redaction import mask_url, redact
from ds_monitor.sweep import render

log = logging.getLogger("ds_monitor.cli")


@dataclass
class Options:
    """Options shared by every command; a subcommand's own -c/--log-level wins over the group's."""

    # The clock of every command: the wall clock from main(); tests pin it to run commands in-process on any date.
    clock: Callable[[], datetime]
    config_path: str | None = None
    log_level: str | None = None


def common_options(func):
    """Add -c/--config and --log-level to a command, so they work before or after the command name."""

    @click.option(
        "-c",
        "--config",
        "config_path",
        default=None,
        metavar="PATH",
        help="Config file (default config/config.yaml; a missing default file is fine).",
    )
    @click.option(
        "--log-level",
        type=click.Choice(LOG_LEVELS, case_sensitive=False),
        default=None,
        help="Log level (overrides logging.level / DS_LOG_LEVEL).",
    )
    @functools.wraps(func)
    def wrapper(*args, config_path, log_level, **kwargs):
        opts = click.get_current_context().find_object(Options)
        if opts is not None:
            opts.config_path = config_path or opts.config_path
            opts.log_level = log_level or opts.log_level
        return func(*args, **kwargs)

    return wrapper


def load(*, need_token: bool = False, log_file: bool = True, stream=None) -> LoadedConfig:
    """Load the configuration and set up logging for the current command."""
    opts = click.get_current_context().find_object(Options)
    loaded = load_config(opts.config_path)
    validate_notification_config(loaded.config.notification)
    if need_token:
        loaded.require_token()
    cfg = loaded.config
    setup_logging(
        opts.log_level or cfg.logging.level,
        file=cfg.logging.file if log_file else None,
        max_size_mb=cfg.logging.max_size,
        backup_count=cfg.logging.backup_count,
        secrets=loaded.secret_values(),
        stream=stream,
    )
    return loaded


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="ds-monitor")
@common_options
def cli() -> None:
    """ds-monitor: notices failed DolphinScheduler workflows, recovers them safely, tells people once."""


@cli.group("config")
def config_group() -> None:
    """Inspect the configuration."""


@config_group.command("check")
@common_options
def config_check() -> None:
    """Validate the configuration and print every effective value with its source (secrets masked)."""
    loaded = load(log_file=False)
    where = loaded.path if loaded.file_found else f"{loaded.path} (not found: defaults and environment only)"
    click.echo(f"config file: {where}")
    rows = loaded.effective_values()
    width = max(len(key) for key, _, _ in rows)
    for key, value, source in rows:
        click.echo(f"  {key:<{width}}  {value}  [{source}]")
    _echo_routing(loaded.config.notification)
    _echo_recovery_policy(loaded.config)
    if not loaded.config.dolphinscheduler.token:
        click.echo("note: dolphinscheduler.token is empty; `run` and `check` need it (DS_TOKEN)")
    else:
        _check_selection_against_ds(loaded)
    click.echo("configuration OK")


def _echo_routing(notification) -> None:
    """The channels and the routing table, as the notifier will use them."""
    from ds_monitor.notify.routes import declared_channels, describe

    declared = declared_channels(notification)
    enabled = {name for name, (_, on) in declared.items() if on}
    channels = ", ".join(
        name if name == kind else f"{name} ({kind})" for name, (kind, on) in declared.items() if on
    )
    click.echo(f"channels: {channels or '(none enabled)'}")
    click.echo("routes:")
    for line in describe(notification.routes, {name: kind for name, (kind, _) in declared.items()}, enabled):
        click.echo(f"  {line}")


def _echo_recovery_policy(config) -> None:
    """Every recovery policy rule, and which one each configured workflow gets (spec section 9)."""
    from ds_monitor.recovery.policy import describe_policy

    selections = [(p.name, () if p.monitor_all else p.workflows) for p in config.projects]
    click.echo("recovery policy (most specific rule wins):")
    for line in describe_policy(config.recovery, selections, max_attempts=config.retry.max_recovery_attempts):
        click.echo(line)


def _check_selection_against_ds(loaded: LoadedConfig) -> None:
    """Report configured project/workflow names that match nothing in DS; DS trouble is only a note."""
    from ds_monitor.ds.client import DSClient
    from ds_monitor.errors import DSError, WatchingNothing
    from ds_monitor.sweep.select import select_definitions, select_projects, watching_nothing

    cfg = loaded.config
    try:
        with DSClient(cfg.dolphinscheduler, max_retries=0) as client:
            matched, warnings = select_projects(client.list_projects(), cfg.projects)
            chosen = 0
            for project, selection in matched:
                if not selection.monitor_all:
                    definitions, misses = select_definitions(project, client.list_definitions(project.code), selection)
                    chosen += len(definitions)
                    warnings.extend(misses)
            click.echo(
                f"DS {client.version} at {mask_url(cfg.dolphinscheduler.api_url)}: zone {client.timezone}, "
                f"{len(matched)} project(s) selected"
            )
    except DSError as err:
        click.echo(f"note: names not checked against DS: {err}")
        return
    for warning in warnings:
        click.echo(f"warning: {warning}")
    blind = watching_nothing(matched, chosen, warnings)
    if blind:
        raise WatchingNothing(blind)


@cli.command("cron")
@click.argument("expression")
@click.option("--tz", "zone", default="UTC", show_default=True, help="IANA time zone of the schedule.")
@click.option(
    "--from",
    "start",
    default=None,
    metavar="ISO",
    help="Start instant, ISO-8601 (default now); without an offset it is read in --tz.",
)
@click.option(
    "-n",
    "count",
    default=5,
    show_default=True,
    type=click.IntRange(1, 1000),
    help="How many fire times to print.",
)
@common_options
def cron_command(expression: str, zone: str, start: str | None, count: int) -> None:
    """Print the next N fire times of a DolphinScheduler (Quartz) cron EXPRESSION.

    Example: python main.py cron "0 0 2 * * ? *" --tz Asia/Shanghai -n 3
    """
    from ds_monitor.cron import next_fire_times
    from ds_monitor.zones import parse_zone

    try:
        tz = parse_zone(zone)
    except ValueError:
        raise ConfigError(f'unknown time zone "{zone}"') from None
    if start is None:
        begin = _now()
    else:
        try:
            begin = datetime.fromisoformat(start)
        except ValueError:
            raise ConfigError(f"--from: {start!r} is not an ISO-8601 date-time such as 2026-01-31T02:00") from None
        if begin.tzinfo is None:
            begin = begin.replace(tzinfo=tz)
    for fire in next_fire_times(expression, tz, begin, count):
        click.echo(fire.isoformat())


@cli.command("check")
@click.option("--dry-run", is_flag=True, help="Detect and report, but never call a DS action or send a notification.")
@click.option("--json", "as_json", is_flag=True, help="Print the sweep report as one JSON object on stdout.")
@common_options
def check_command(dry_run: bool, as_json: bool) -> None:
    """Run exactly one sweep, then exit (1 if the sweep could not complete or a project could not be read).

    Example: python main.py check --dry-run --json
    """
    from ds_monitor import app

    loaded = load(need_token=True, stream=sys.stderr)
    report = app.check(loaded, dry_run=dry_run, clock=_clock())
    if as_json:
        click.echo(json.dumps(report.to_dict(), ensure_ascii=False, sort_keys=False))
    else:
        click.echo(render.table(report))
    if not report.complete:
        raise ReportedFailure("the sweep could not complete or could not read every selected project")


@cli.command("run")
@click.option("--once", is_flag=True, help="One sweep, then exit.")
@click.option(
    "--http-port",
    type=click.IntRange(0, 65535),
    default=None,
    help="Serve /healthz /readyz /metrics /status on this port (0 = off; default monitor.http_port).",
)
@common_options
def run_command(once: bool, http_port: int | None) -> None:
    """Sweep every monitor.check_interval seconds until SIGTERM/SIGINT (SIGHUP reloads the config).

    Example: python main.py run --http-port 8080
    """
    from ds_monitor import app

    loaded = load(need_token=True)
    app.run(
        loaded,
        reload=lambda: load(need_token=True),
        clock=_clock(),
        http_port=http_port,
        once=once or not loaded.config.monitor.continuous_mode,
    )


@cli.command("status")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@common_options
def status_command(as_json: bool) -> None:
    """Show recovery, rate-limit and schedule state from the state files (never calls DS).

    Example: python main.py status --json
    """
    from ds_monitor.status import collect_status, render_status

    loaded = load(log_file=False)
    status = collect_status(loaded.config, _now())
    if as_json:
        click.echo(json.dumps(status, ensure_ascii=False))
    else:
        click.echo(render_status(status))


@cli.command("explain")
@click.argument("target", metavar="PROJECT[/WORKFLOW]")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@common_options
def explain_command(target: str, as_json: bool) -> None:
    """Why the monitor did what it did for one workflow (or each workflow of a project).

    Reads the state files and makes a handful of DS calls (projects, definitions, schedules,
    instances of the window, and the tasks of up to three failed instances).

    Example: python main.py explain data-platform/daily_etl_job
    """
    from ds_monitor import explain
    from ds_monitor.ds.client import DSClient
    from ds_monitor.state.backends import command_store

    loaded = load(need_token=True, log_file=False, stream=sys.stderr)
    with command_store(loaded.config, clock=_clock()) as store:
        files, warnings = store.snapshot(), store.warnings
    with DSClient(loaded.config.dolphinscheduler) as client:
        explanations = explain.explain_target(client, loaded.config, files, target, _now())
    if as_json:
        click.echo(json.dumps(explanations, ensure_ascii=False))
    else:
        click.echo(explain.render(explanations))
    for warning in warnings:
        click.echo(f"warning: {warning}", err=True)


@cli.group("silence")
def silence_group() -> None:
    """Mute notifications (and optionally recoveries) for a while; a running daemon sees changes at its next sweep."""


# A sweep holds the state lock while it works; waiting this long lets `silence add` slip in between.
SILENCE_LOCK_WAIT = 60.0


def _silence_store(loaded: LoadedConfig):
    """The configured backend's store, writable beside a running daemon (with ZooKeeper: compare-and-set)."""
    from ds_monitor.state.backends import command_store

    return command_store(loaded.config, write=True, lead=False, lock_timeout=SILENCE_LOCK_WAIT, clock=_clock())


@silence_group.command("add")
@click.option("--project", "projects", multiple=True, metavar="GLOB", help="Project name glob (repeatable).")
@click.option("--workflow", default=None, metavar="GLOB", help="Workflow name glob (needs --project).")
@click.option("--all", "everything", is_flag=True, help="Every project, and the monitor's own events.")
@click.option("--for", "duration", default=None, metavar="DURATION", help="How long: 2h, 90m, 1h30m, 1d.")
@click.option("--until", default=None, metavar="ISO", help="Until this ISO-8601 time (without an offset: UTC).")
@click.option("--reason", required=True, help="Why; shown in `silence list`, status and explain.")
@click.option("--event", "events", multiple=True, metavar="KIND", help="Only these event kinds (repeatable).")
@click.option("--no-recover", is_flag=True, help="Also withhold automatic recoveries of matching workflows.")
@common_options
def silence_add(projects, workflow, everything, duration, until, reason, events, no_recover) -> None:
    """Add a silence and print its id.

    Example: python main.py silence add --project data-platform --for 2h --reason "DS upgrade"
    """
    from ds_monitor import silences
    from ds_monitor.state import SILENCES

    if everything == bool(projects):
        raise click.UsageError("give either --project GLOB (with an optional --workflow) or --all")
    if everything and workflow:
        raise click.UsageError("--workflow cannot be combined with --all")
    if (duration is None) == (until is None):
        raise click.UsageError("give either --for DURATION or --until ISO")
    loaded = load(log_file=False)
    now = _now()
    end = now + silences.parse_duration(duration) if duration is not None else _parse_until(until)
    silence = silences.new_silence(
        silence_id=uuid.uuid4().hex[:8],
        now=now,
        until=end,
        reason=reason,
        projects=tuple(projects),
        workflow=workflow,
        events=tuple(events),
        no_recover=no_recover,
    )
    with _silence_store(loaded) as store, store.locked():
        store.save(SILENCES, silences.add(store.load(SILENCES), silence, now))
    click.echo(silence.id)
    log.info("silence %s added: %s until %s (%s)", silence.id, silence.scope, silence.end.isoformat(), reason)


def _parse_until(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"--until: {text!r} is not an ISO-8601 date-time such as 2026-01-31T06:00+08:00") from None
    return value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)


@silence_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@common_options
def silence_list(as_json: bool) -> None:
    """List active silences, then those that ended within a day.

    Example: python main.py silence list
    """
    from ds_monitor import silences
    from ds_monitor.state import SILENCES
    from ds_monitor.state.backends import command_store
    from ds_monitor.status import render_table

    loaded = load(log_file=False)
    now = _now()
    with command_store(loaded.config, clock=_clock()) as store:
        documents = store.snapshot()
    rows = [silences.describe(s, now) for s in silences.listing(documents.get(SILENCES, {}), now)]
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False))
    else:
        click.echo(render_table("silences", rows))
    for warning in store.warnings:
        click.echo(f"warning: {warning}", err=True)


@silence_group.command("expire")
@click.argument("silence_id", metavar="ID")
@common_options
def silence_expire(silence_id: str) -> None:
    """End a silence now; the incidents it hid that are still open are announced at the next sweep.

    Example: python main.py silence expire 3f9a1c2e
    """
    from ds_monitor import silences
    from ds_monitor.state import SILENCES

    loaded = load(log_file=False)
    now = _now()
    with _silence_store(loaded) as store, store.locked():
        state, silence = silences.expire(store.load(SILENCES), silence_id, now)
        store.save(SILENCES, state)
    click.echo(f"silence {silence.id} ended at {silence.end.isoformat()}")


@cli.group("state")
def state_group() -> None:
    """Move the state between backends (files, ZooKeeper) or hosts."""


@state_group.command("export")
@click.argument("file", metavar="FILE")
@common_options
def state_export(file: str) -> None:
    """Copy every state document of the configured backend into one JSON FILE ("-" = stdout).

    Example: python main.py state export /tmp/ds-monitor-state.json
    """
    from ds_monitor.state.backends import command_store, export_state, location, write_export

    loaded = load(log_file=False, stream=sys.stderr)
    with command_store(loaded.config, clock=_clock()) as store:
        data = export_state(store, _now())
    for warning in store.warnings:
        click.echo(f"warning: {warning}", err=True)
    if file == "-":
        click.echo(json.dumps(data, indent=1, ensure_ascii=False))
        return
    write_export(file, data)
    click.echo(f"exported {len(data['documents'])} state documents from {location(loaded.config)} to {file}")


@state_group.command("import")
@click.argument("file", metavar="FILE")
@common_options
def state_import(file: str) -> None:
    """Replace the state documents of the configured backend with those of FILE (from `state export`).

    With ZooKeeper no `run` replica may lead meanwhile. Example: python main.py state import state.json
    """
    from ds_monitor.state.backends import command_store, import_state, location, read_export

    loaded = load(log_file=False)
    documents = read_export(file)
    with command_store(loaded.config, write=True, clock=_clock()) as store:
        written = import_state(store, documents)
    click.echo(f"imported {', '.join(written) or 'no documents'} into {location(loaded.config)}")


@cli.group("notify")
def notify_group() -> None:
    """Notification channels."""


@notify_group.command("test")
@click.option(
    "--channel",
    "channel_names",
    multiple=True,
    metavar="NAME",
    help="Only this channel (a section such as slack, or a named entry such as team-a); repeatable.",
)
@common_options
def notify_test(channel_names: tuple[str, ...]) -> None:
    """Send one test message to each enabled channel and report per channel (exit 1 if any failed).

    Example: python main.py notify test --channel team-a
    """
    from ds_monitor.notify import build_senders, send_test_messages

    loaded = load(log_file=False)
    senders = build_senders(loaded.config.notification)
    if channel_names:
        unknown = [name for name in channel_names if name not in {s.name for s in senders}]
        if unknown:
            known = ", ".join(s.name for s in senders) or "none"
            raise click.UsageError(f"--channel {unknown[0]}: no enabled channel of that name (enabled: {known})")
        senders = [s for s in senders if s.name in channel_names]
    results = send_test_messages(loaded.config.notification, _now(), senders=senders)
    if not results:
        click.echo("no channel is enabled (notification.<channel>.enabled, or a named entry)")
        return
    for channel, ok, detail in results:
        click.echo(f"{channel}: {'sent' if ok else 'FAILED'}{'' if ok else ': ' + detail}")
    if not all(ok for _, ok, _ in results):
        raise ReportedFailure("a channel failed its test message")


@cli.command("demo")
@click.option("--serve-only", is_flag=True, help="Only serve the simulator with the demo estate until interrupted.")
@click.option("--port", default=0, type=click.IntRange(0, 65535), help="Port for --serve-only (0 = any free port).")
@click.option(
    "--ds-version",
    default="3.2",
    type=click.Choice(SUPPORTED_VERSIONS),
    show_default=True,
    help="DS version the simulator speaks.",
)
@click.option("--sweeps", default=4, type=click.IntRange(1, 50), show_default=True, help="Sweeps to run.")
@common_options
def demo_command(serve_only: bool, port: int, ds_version: str, sweeps: int) -> None:
    """See detection, recovery and notifications against an embedded DS simulator (no cluster needed).

    Example: python main.py demo
    """
    import signal
    import threading

    from ds_monitor import demo

    opts = click.get_current_context().find_object(Options)
    setup_logging(opts.log_level or "WARNING")
    out = click.get_text_stream("stdout")
    if not serve_only:
        demo.run_demo(out, sweeps=sweeps, version=ds_version)
        return
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    demo.serve_only(out, host="127.0.0.1", port=port, version=ds_version, stop=stop)


def _clock() -> Callable[[], datetime]:
    """The command's clock: the wall clock from :func:`main`, or the one a test pinned."""
    return click.get_current_context().find_object(Options).clock


def _now() -> datetime:
    return _clock()()


def main(argv: list[str] | None = None, *, clock: Callable[[], datetime] = utc_now) -> NoReturn:
    """Run the CLI and exit with the code the spec promises (0 done, 1 DS side, 2 usage/config).

    The one place that turns an exception into output and an exit code: commands raise, the
    exception's class carries the code (:mod:`ds_monitor.errors`, click's ``UsageError``).
    """
    opts = Options(clock=clock)
    sys.exit(_invoke(argv, opts))


def _invoke(argv: list[str] | None, opts: Options) -> int:
    try:
        # Not standalone: click raises its usage errors here instead of exiting, and --help and
        # --version return (their code is 0).
        cli.main(args=argv, prog_name="main.py", standalone_mode=False, obj=opts)
    except click.Abort:
        # Ctrl-C outside `run` (which handles SIGINT itself): click turns it into Abort.
        click.echo("aborted", err=True)
        return 130
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except ReportedFailure as exc:
        log.debug("exit %d: %s", exc.exit_code, exc)
        return exc.exit_code
    except MonitorError as exc:
        _show(exc, opts)
        return exc.exit_code
    except Exception as exc:  # noqa: BLE001 - the last line of defence: one line, never a bare traceback
        _show(exc, opts, unexpected=True)
        return INTERNAL_ERROR_EXIT
    return 0


def _show(exc: Exception, opts: Options, *, unexpected: bool = False) -> None:
    """The error as one line on stderr (secrets redacted); the traceback only at DEBUG."""
    debug = (opts.log_level or "").upper() == "DEBUG"
    if debug:
        log.exception("failed")
    text = str(exc) or type(exc).__name__
    prefix = f"internal error ({type(exc).__name__}): " if unexpected else "error: "
    click.echo(redact(prefix + text), err=True)
    if unexpected and not debug:
        click.echo("run again with --log-level DEBUG for the traceback", err=True)
