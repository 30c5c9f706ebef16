"""Configuration: defaults < config file (YAML) < environment (including ``.env``).

The file format is the seed tool's (``dolphinscheduler``, ``monitor``, ``retry``, ``projects``,
``logging``, ``notification`` sections), so an existing ``config/config.yaml`` and ``.env`` keep
working. Every value is typed and validated here; errors name the key, variable or file. The channels'
own rules (webhook shapes, routes) are checked by ``notify.validation``: the settings never import the senders.
"""

from __future__ import annotations

import math
import os
import re
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, is_dataclass, replace
from urllib.parse import urlsplit

import yaml
from dotenv import dotenv_values

from ds_monitor.ds.dialect import SUPPORTED_VERSIONS
from ds_monitor.errors import ConfigError
from ds_monitor.recovery.policy import RecoverySettings, parse_recovery
from ds_monitor.redaction import SECRET_KEYS, mask_setting, mask_url, secrets_in
from ds_monitor.zones import parse_zone


@dataclass(frozen=True)
class DolphinSchedulerConfig:
    api_url: str = "http://localhost:12345/dolphinscheduler"
    token: str = ""
    api_version: str = "auto"
    timeout_seconds: float = 30
    verify_ssl: bool = True
    server_timezone: str = "auto"
    ui_url: str = ""


@dataclass(frozen=True)
class MonitorConfig:
    continuous_mode: bool = True
    check_interval: int = 60
    timeout: int = 300
    time_window_hours: float = 24
    max_failures_for_recovery: int = 1
    enable_schedule_optimization: bool = True
    execution_window_hours: float = 4
    success_cooldown_minutes: float = 30
    max_unchecked_minutes: float = 15
    missed_run_grace_minutes: float = 30
    http_port: int = 0
    http_host: str = "127.0.0.1"
    heartbeat_url: str = ""


@dataclass(frozen=True)
class RetryConfig:
    max_recovery_attempts: int = 3
    recovery_interval: float = 30
    auto_recovery: bool = True


@dataclass(frozen=True)
class ProjectSelection:
    """One configured project: a DS project name or code, and which workflows of it to watch."""

    name: str
    workflows: tuple[str, ...] = ()
    monitor_all: bool = True


@dataclass(frozen=True)
class MaintenanceWindow:
    """A recurring maintenance window (spec section 10): muted like a silence while it lasts."""

    name: str
    cron: str
    duration_minutes: float
    timezone: str = "UTC"
    projects: tuple[str, ...] = ("*",)
    recover: bool = True


@dataclass(frozen=True)
class LoggingConfig:
    level: str = "INFO"
    file: str = "logs/monitor.log"
    max_size: float = 10
    backup_count: int = 5


@dataclass(frozen=True)
class RateLimitConfig:
    max_per_window: int = 6
    window_hours: float = 24


@dataclass(frozen=True)
class DingTalkConfig:
    enabled: bool = False
    webhook_url: str = ""
    secret: str = ""
    keyword: str = ""
    at_mobiles: tuple[str, ...] = ()
    at_all: bool = False


@dataclass(frozen=True)
class WeComConfig:
    """The WeCom robot. Its section is ``notification.wework`` (env ``DS_WEWORK_*``): the spec's keys."""

    enabled: bool = False
    webhook_url: str = ""
    mentioned_list: tuple[str, ...] = ()
    mentioned_mobile_list: tuple[str, ...] = ()


@dataclass(frozen=True)
class EmailConfig:
    enabled: bool = False
    smtp_host: str = ""
    smtp_port: int = 465
    use_ssl: bool = True
    starttls: bool = False
    username: str = ""
    password: str = ""
    from_addr: str = ""
    to_addrs: tuple[str, ...] = ()
    cc_addrs: tuple[str, ...] = ()
    timeout_seconds: float = 30


@dataclass(frozen=True)
class FeishuConfig:
    enabled: bool = False
    webhook_url: str = ""
    secret: str = ""
    keyword: str = ""


@dataclass(frozen=True)
class SlackConfig:
    enabled: bool = False
    webhook_url: str = ""


@dataclass(frozen=True)
class WebhookConfig:
    """The generic signed JSON webhook."""

    enabled: bool = False
    url: str = ""
    secret: str = ""
    timeout_seconds: float = 10


@dataclass(frozen=True)
class AlertmanagerConfig:
    enabled: bool = False
    url: str = "http://alertmanager:9093"
    resend_minutes: float = 5


@dataclass(frozen=True)
class Route:
    """One row of ``notification.routes``: events matching every given filter go to ``channels``.

    An empty filter matches anything. ``proceed`` is the YAML key ``continue``: also try the next rows.
    """

    channels: tuple[str, ...]
    projects: tuple[str, ...] = ()
    workflows: tuple[str, ...] = ()
    events: tuple[str, ...] = ()
    proceed: bool = False


@dataclass(frozen=True)
class ChannelInstance:
    """A named entry of a channel declared as a list (``dingtalk: [{name: team-a, ...}]``)."""

    kind: str  # the section: dingtalk, wework, email, webhook, slack, feishu, alertmanager
    name: str
    config: object  # that section's config class (DingTalkConfig, ...)


@dataclass(frozen=True)
class DigestConfig:
    enabled: bool = False
    at: str = "09:00"
    timezone: str = "UTC"


@dataclass(frozen=True)
class TaskLogConfig:
    """Failed tasks and log excerpts in messages (spec section 9); ``enabled: false`` = no task calls."""

    enabled: bool = True
    max_lines: int = 20
    max_bytes: int = 2048


@dataclass(frozen=True)
class NotificationConfig:
    rate_limit: RateLimitConfig = field(default_factory=RateLimitConfig)
    task_log: TaskLogConfig = field(default_factory=TaskLogConfig)
    dingtalk: DingTalkConfig = field(default_factory=DingTalkConfig)
    wework: WeComConfig = field(default_factory=WeComConfig)  # the field is the spec's YAML key
    email: EmailConfig = field(default_factory=EmailConfig)
    webhook: WebhookConfig = field(default_factory=WebhookConfig)
    slack: SlackConfig = field(default_factory=SlackConfig)
    feishu: FeishuConfig = field(default_factory=FeishuConfig)
    alertmanager: AlertmanagerConfig = field(default_factory=AlertmanagerConfig)
    digest: DigestConfig = field(default_factory=DigestConfig)
    # Parsed from lists, not key/value leaves (no environment names): see _parse_routes, _parse_instances.
    routes: tuple[Route, ...] = ()
    instances: tuple[ChannelInstance, ...] = ()


@dataclass(frozen=True)
class ZooKeeperConfig:
    hosts: str = ""
    root: str = "/ds-monitor"
    session_timeout_seconds: float = 10


@dataclass(frozen=True)
class CoordinationConfig:
    backend: str = "none"
    zookeeper: ZooKeeperConfig = field(default_factory=ZooKeeperConfig)


@dataclass(frozen=True)
class Config:
    dolphinscheduler: DolphinSchedulerConfig = field(default_factory=DolphinSchedulerConfig)
    monitor: MonitorConfig = field(default_factory=MonitorConfig)
    retry: RetryConfig = field(default_factory=RetryConfig)
    projects: tuple[ProjectSelection, ...] = ()
    maintenance: tuple[MaintenanceWindow, ...] = ()
    state_dir: str = "logs"
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    notification: NotificationConfig = field(default_factory=NotificationConfig)
    coordination: CoordinationConfig = field(default_factory=CoordinationConfig)
    # Structured like ``projects`` (a list and glob-keyed rules), so parsed by ds_monitor.recovery.policy.
    recovery: RecoverySettings = field(default_factory=RecoverySettings)


# --------------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------------

DEFAULT_CONFIG_PATH = "config/config.yaml"

# The seed tool's environment names, kept so an existing .env works unchanged. Every other key is
# reachable as DS_<SECTION>__<KEY> (nested sections joined by "__").
ENV_ALIASES: dict[str, str] = {
    "dolphinscheduler.api_url": "DS_API_URL",
    "dolphinscheduler.token": "DS_TOKEN",
    "dolphinscheduler.api_version": "DS_API_VERSION",
    "dolphinscheduler.server_timezone": "DS_SERVER_TIMEZONE",
    "monitor.continuous_mode": "DS_CONTINUOUS_MODE",
    "monitor.check_interval": "DS_CHECK_INTERVAL",
    "monitor.time_window_hours": "DS_TIME_WINDOW_HOURS",
    "monitor.max_failures_for_recovery": "DS_MAX_FAILURES_FOR_RECOVERY",
    "monitor.enable_schedule_optimization": "DS_ENABLE_SCHEDULE_OPTIMIZATION",
    "monitor.execution_window_hours": "DS_EXECUTION_WINDOW_HOURS",
    "monitor.success_cooldown_minutes": "DS_SUCCESS_COOLDOWN_MINUTES",
    "retry.max_recovery_attempts": "DS_MAX_RECOVERY_ATTEMPTS",
    "retry.auto_recovery": "DS_AUTO_RECOVERY",
    "state_dir": "DS_STATE_DIR",
    "logging.level": "DS_LOG_LEVEL",
    "notification.dingtalk.enabled": "DS_DINGTALK_ENABLED",
    "notification.dingtalk.webhook_url": "DS_DINGTALK_WEBHOOK",
    "notification.dingtalk.secret": "DS_DINGTALK_SECRET",
    "notification.dingtalk.keyword": "DS_DINGTALK_KEYWORD",
    "notification.wework.enabled": "DS_WEWORK_ENABLED",
    "notification.wework.webhook_url": "DS_WEWORK_WEBHOOK",
    "notification.email.enabled": "DS_EMAIL_ENABLED",
    "notification.email.smtp_host": "DS_EMAIL_SMTP_HOST",
    "notification.email.smtp_port": "DS_EMAIL_SMTP_PORT",
    "notification.email.username": "DS_EMAIL_USERNAME",
    "notification.email.password": "DS_EMAIL_PASSWORD",
    "notification.email.from_addr": "DS_EMAIL_FROM",
    "notification.email.to_addrs": "DS_EMAIL_TO",
    "notification.slack.webhook_url": "DS_SLACK_WEBHOOK",
    "notification.feishu.webhook_url": "DS_FEISHU_WEBHOOK",
    "notification.feishu.secret": "DS_FEISHU_SECRET",
}

# Keys whose value is a list of mappings, each with its own parser (not DS_<SECTION>__<KEY> leaves).
_STRUCTURED_KEYS = frozenset({"projects", "maintenance", "recovery", "notification.routes", "notification.instances"})
# Channel sections that may also be written as a list of named entries.
CHANNEL_SECTIONS = ("dingtalk", "wework", "email", "webhook", "slack", "feishu", "alertmanager")
_CHANNEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_CHANNEL_LIST_KEYS = frozenset(f"notification.{kind}" for kind in CHANNEL_SECTIONS)
_ROUTE_KEYS = ("projects", "workflows", "events", "channels", "continue")

# The DS dialect knows which versions exist; "auto" lets the client probe.
API_VERSIONS = ("auto", *SUPPORTED_VERSIONS)
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
COORDINATION_BACKENDS = ("none", "zookeeper")
_TRUE = ("true", "1", "yes", "on")
_FALSE = ("false", "0", "no", "off")


@dataclass(frozen=True)
class LoadedConfig:
    """The effective configuration plus where each value came from (``default``, ``file``, ``env:NAME``)."""

    config: Config
    sources: dict[str, str]
    path: str
    file_found: bool

    def secret_values(self) -> list[str]:
        """Every configured secret, for the log filter that masks them wherever they appear."""
        return secret_values(self.config)

    def require_token(self) -> None:
        if not self.config.dolphinscheduler.token:
            raise ConfigError(
                "dolphinscheduler.token is empty: set DS_TOKEN (or dolphinscheduler.token in "
                f"{self.path}); create one in the DS UI under Security > Token manage"
            )

    def effective_values(self) -> list[tuple[str, str, str]]:
        """(key, masked value, source) for every leaf key, in declaration order."""
        rows = []
        for key in _leaf_keys(Config):
            value = _get_dotted(self.config, key)
            rows.append((key, mask_value(key, value) or '""', self.sources.get(key, "default")))
        for key, shown_key, value in _instance_values(self.config.notification):
            rows.append((shown_key, mask_value(key, value) or '""', "file"))
        projects = self.config.projects
        shown = ", ".join(_describe_project(p) for p in projects) if projects else "(all visible projects)"
        rows.append(("projects", shown, self.sources.get("projects", "default")))
        windows = "; ".join(_describe_window(w) for w in self.config.maintenance) or "(none)"
        rows.append(("maintenance", windows, self.sources.get("maintenance", "default")))
        return rows


def _instance_values(notification: NotificationConfig) -> list[tuple[str, str, object]]:
    """(section key, shown key ``notification.dingtalk[team-a].secret``, value) of every named channel entry."""
    rows = []
    for instance in notification.instances:
        for f in fields(instance.config):
            shown = f"notification.{instance.kind}[{instance.name}].{f.name}"
            rows.append((f"notification.{instance.kind}.{f.name}", shown, getattr(instance.config, f.name)))
    return rows


def secret_values(config: Config) -> list[str]:
    """Every configured secret value (and the secrets inside secret URLs), for masking."""
    settings = [(key, _get_dotted(config, key)) for key in _LEAF_KEYS]
    settings += [(key, value) for key, _, value in _instance_values(config.notification)]
    return secrets_in(settings)


def load_config(
    path: str | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    dotenv_path: str | None = ".env",
) -> LoadedConfig:
    """Load defaults, then the YAML file, then ``.env`` and the environment (highest priority).

    ``path=None`` means the default file, which may be absent; an explicit path must exist.
    """
    explicit = path is not None
    path = path or DEFAULT_CONFIG_PATH
    raw, file_found = _read_yaml(path, explicit)

    env = dict(_read_dotenv(dotenv_path)) if dotenv_path else {}
    env.update(os.environ if environ is None else environ)

    sources: dict[str, str] = {}
    values = _flatten_file_values(raw, path, sources)
    values.update(_env_values(env, sources))
    projects = _parse_projects(raw.get("projects"), path)
    if raw.get("projects"):
        sources["projects"] = "file"
    maintenance = _parse_maintenance(raw.get("maintenance"), path)
    if maintenance:
        sources["maintenance"] = "file"
    try:
        recovery = parse_recovery(raw.get("recovery"))
    except ValueError as err:
        raise ConfigError(f"{path}: {err}") from None

    config = _build(Config, values, prefix="")
    notification = raw.get("notification") if isinstance(raw.get("notification"), dict) else {}
    config = replace(
        config,
        projects=projects,
        maintenance=maintenance,
        recovery=recovery,
        notification=replace(
            config.notification,
            routes=_parse_routes(notification.get("routes"), path),
            instances=_parse_instances(notification, path),
        ),
    )
    _validate(config, sources)
    return LoadedConfig(config=config, sources=sources, path=path, file_found=file_found)


def mask_value(key: str, value: object) -> str:
    """Render a config value for humans; secrets become ``***`` (webhook URLs keep their host)."""
    if key in SECRET_KEYS and value:
        return mask_setting(key, str(value))
    if isinstance(value, str) and "://" in value:
        return mask_url(value)
    if isinstance(value, tuple):
        return "[" + ", ".join(str(v) for v in value) + "]"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _describe_project(project: ProjectSelection) -> str:
    if project.monitor_all:
        return f"{project.name} (all workflows)"
    return f"{project.name} ({', '.join(project.workflows)})"


def _describe_window(window: MaintenanceWindow) -> str:
    recover = "" if window.recover else ", no recovery"
    return (
        f"{window.name}: {window.cron} in {window.timezone} for {window.duration_minutes:g} min, "
        f"projects {', '.join(window.projects)}{recover}"
    )


def _read_yaml(path: str, explicit: bool) -> tuple[dict, bool]:
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except FileNotFoundError:
        if explicit:
            raise ConfigError(f"config file {path} does not exist") from None
        return {}, False
    except UnicodeDecodeError as err:
        raise ConfigError(f"config file {path} is not UTF-8 text ({_bad_byte(err)})") from err
    except OSError as err:
        raise ConfigError(f"config file {path} cannot be read: {err.strerror}") from err
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(err, "problem", None) or "invalid syntax"
        raise ConfigError(f"config file {path} is not valid YAML{where}: {problem}") from err
    if raw is None:
        return {}, True
    if not isinstance(raw, dict):
        raise ConfigError(f"config file {path}: the top level must be a mapping of sections")
    return raw, True


def _read_dotenv(dotenv_path: str) -> dict[str, str]:
    if not os.path.isfile(dotenv_path):
        return {}
    try:
        return {k: v for k, v in dotenv_values(dotenv_path, encoding="utf-8").items() if v is not None}
    except UnicodeDecodeError as err:
        raise ConfigError(f"environment file {dotenv_path} is not UTF-8 text ({_bad_byte(err)})") from err
    except OSError as err:
        raise ConfigError(f"environment file {dotenv_path} cannot be read: {err.strerror or err}") from err


def _bad_byte(err: UnicodeDecodeError) -> str:
    return f"byte 0x{err.object[err.start]:02x} at offset {err.start}"


def _leaf_keys(cls: type, prefix: str = "") -> list[str]:
    keys = []
    hints = typing.get_type_hints(cls)
    for f in fields(cls):
        hint = hints[f.name]
        dotted = f"{prefix}{f.name}"
        if dotted in _STRUCTURED_KEYS:
            continue
        if is_dataclass(hint):
            keys.extend(_leaf_keys(hint, dotted + "."))
        else:
            keys.append(dotted)
    return keys


_LEAF_KEYS = frozenset(_leaf_keys(Config))


def _leaf_type(key: str) -> type:
    cls: type = Config
    *sections, leaf = key.split(".")
    for section in sections:
        cls = typing.get_type_hints(cls)[section]
    return typing.get_type_hints(cls)[leaf]


def _flatten_file_values(raw: dict, path: str, sources: dict[str, str]) -> dict[str, object]:
    values: dict[str, object] = {}

    def walk(node: object, prefix: str) -> None:
        if not isinstance(node, dict):
            raise ConfigError(f"{path}: {prefix.rstrip('.')} must be a mapping, got {_type_name(node)}")
        for name, value in node.items():
            dotted = f"{prefix}{name}"
            if dotted in _STRUCTURED_KEYS or (dotted in _CHANNEL_LIST_KEYS and isinstance(value, list)):
                continue  # parsed on their own (projects, routes, named channel entries)
            if dotted in _LEAF_KEYS:
                values[dotted] = _convert(dotted, value, origin=f"{path}: {dotted}")
                sources[dotted] = "file"
            elif any(k.startswith(dotted + ".") for k in _LEAF_KEYS):
                if value is None:
                    continue
                walk(value, dotted + ".")
            else:
                raise ConfigError(f"{path}: unknown key {dotted}")

    walk(raw, "")
    return values


def _env_values(env: Mapping[str, str], sources: dict[str, str]) -> dict[str, object]:
    """The seed's short names (DS_TOKEN, ...) first, then DS_<SECTION>__<KEY>, which wins if both are set."""
    values: dict[str, object] = {}
    for dotted, name in ENV_ALIASES.items():
        if name in env:
            values[dotted] = _convert(dotted, env[name], origin=f"environment variable {name}")
            sources[dotted] = f"env:{name}"
    for name, text in env.items():
        if not name.startswith("DS_") or "__" not in name:
            continue
        dotted = ".".join(part.lower() for part in name[3:].split("__"))
        if dotted not in _LEAF_KEYS:
            raise ConfigError(f"environment variable {name}: no configuration key {dotted}")
        values[dotted] = _convert(dotted, text, origin=f"environment variable {name}")
        sources[dotted] = f"env:{name}"
    return values


def _type_name(value: object) -> str:
    return {
        type(None): "nothing",
        bool: "a boolean",
        int: "a number",
        float: "a number",
        str: "text",
        list: "a list",
        dict: "a mapping",
    }.get(type(value), type(value).__name__)


# No setting needs more; anything larger is a typo (1e10) and would overflow a timer or a date.
MAX_NUMBER = 1e9


def _convert(key: str, value: object, *, origin: str) -> object:
    """Turn a YAML or environment value into the key's declared type, or say what is wrong."""
    target = _leaf_type(key)
    from_env = isinstance(value, str) and origin.startswith("environment")
    if target is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in _TRUE + _FALSE:
            return value.strip().lower() in _TRUE
        raise ConfigError(f"{origin}: expected true/false (or 1/0, yes/no), got {value!r}")
    if target in (int, float):
        if isinstance(value, bool):
            raise ConfigError(f"{origin}: expected a number, got {value!r}")
        if isinstance(value, (int, float)) and not from_env:
            number = value
        else:
            try:
                number = float(str(value).strip())
            except ValueError:
                raise ConfigError(f"{origin}: expected a number, got {value!r}") from None
        if not math.isfinite(number) or abs(number) > MAX_NUMBER:
            raise ConfigError(f"{origin}: expected a finite number of sensible size, got {value!r}")
        if target is int:
            if float(number) != int(number):
                raise ConfigError(f"{origin}: expected a whole number, got {value!r}")
            return int(number)
        return float(number)
    if target is str:
        if value is None:
            return ""
        if isinstance(value, (dict, list, bool)):
            raise ConfigError(f"{origin}: expected text, got {_type_name(value)}")
        if key in _STRIPPED_KEYS:
            # Copied from a file or a terminal, these often bring a newline or spaces along.
            return str(value).strip()
        return str(value)
    # tuple[str, ...]: a YAML list, or comma-separated text (the environment's only form)
    if value is None:
        return ()
    if isinstance(value, str):
        return tuple(item.strip() for item in value.split(",") if item.strip())
    if isinstance(value, list) and all(isinstance(v, (str, int)) and not isinstance(v, bool) for v in value):
        return tuple(str(v) for v in value)
    raise ConfigError(f"{origin}: expected a list of text values, got {_type_name(value)}")


def _parse_projects(raw: object, path: str) -> tuple[ProjectSelection, ...]:
    """Accept the seed's mapping form, the list shorthand, or nothing (= every visible project)."""
    if raw is None or raw == {} or raw == []:
        return ()
    if isinstance(raw, list):
        selections = []
        for item in raw:
            if not isinstance(item, (str, int)) or isinstance(item, bool):
                raise ConfigError(f"{path}: projects: list items must be project names or codes, got {item!r}")
            selections.append(ProjectSelection(name=str(item)))
        return tuple(selections)
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: projects must be a mapping of project names or a list, got {_type_name(raw)}")
    selections = []
    for name, body in raw.items():
        where = f"{path}: projects.{name}"
        if body is None:
            body = {}
        if not isinstance(body, dict):
            raise ConfigError(f"{where} must be a mapping with workflows / monitor_all")
        unknown = set(body) - {"workflows", "monitor_all"}
        if unknown:
            raise ConfigError(f"{where}: unknown key {sorted(unknown)[0]}")
        workflows = body.get("workflows") or []
        if not isinstance(workflows, list) or not all(isinstance(w, (str, int)) for w in workflows):
            raise ConfigError(f"{where}.workflows must be a list of workflow names or codes")
        monitor_all = body.get("monitor_all", not workflows)
        if not isinstance(monitor_all, bool):
            raise ConfigError(f"{where}.monitor_all: expected true/false, got {monitor_all!r}")
        if not monitor_all and not workflows:
            raise ConfigError(f"{where}: monitor_all is false but no workflows are listed")
        selections.append(ProjectSelection(str(name), tuple(str(w) for w in workflows), monitor_all))
    return tuple(selections)


def _parse_routes(raw: object, path: str) -> tuple[Route, ...]:
    """``notification.routes``: a list of {projects, workflows, events, channels, continue} mappings."""
    if raw is None or raw == []:
        return ()
    if not isinstance(raw, list):
        raise ConfigError(f"{path}: notification.routes must be a list of routes, got {_type_name(raw)}")
    routes = []
    for index, entry in enumerate(raw):
        where = f"{path}: notification.routes[{index}]"
        if not isinstance(entry, dict):
            raise ConfigError(f"{where} must be a mapping with channels (and projects, workflows, events)")
        unknown = sorted(set(entry) - set(_ROUTE_KEYS))
        if unknown:
            raise ConfigError(f"{where}: unknown key {unknown[0]} (expected {', '.join(_ROUTE_KEYS)})")
        lists = {}
        for key in ("projects", "workflows", "events", "channels"):
            value = entry.get(key) or []
            if isinstance(value, str):
                value = [value]
            if not isinstance(value, list) or not all(isinstance(v, (str, int)) for v in value):
                raise ConfigError(f"{where}.{key} must be a list of names")
            lists[key] = tuple(str(v) for v in value)
        if not lists["channels"]:
            raise ConfigError(f"{where}.channels: empty; name at least one channel")
        proceed = entry.get("continue", False)
        if not isinstance(proceed, bool):
            raise ConfigError(f"{where}.continue: expected true/false, got {proceed!r}")
        routes.append(Route(proceed=proceed, **lists))
    return tuple(routes)


def _parse_instances(notification: dict, path: str) -> tuple[ChannelInstance, ...]:
    """Channel sections written as lists: each entry a full section with a ``name`` (enabled unless said)."""
    instances: list[ChannelInstance] = []
    for kind in CHANNEL_SECTIONS:
        entries = notification.get(kind)
        if not isinstance(entries, list):
            continue
        cls = typing.get_type_hints(NotificationConfig)[kind]
        known = {f.name for f in fields(cls)}
        for index, entry in enumerate(entries):
            where = f"{path}: notification.{kind}[{index}]"
            if not isinstance(entry, dict):
                raise ConfigError(f"{where} must be a mapping with a name and the {kind} keys")
            name = entry.get("name")
            if not isinstance(name, str) or not _CHANNEL_NAME.match(name):
                raise ConfigError(f"{where}.name: a name of letters, digits, - _ . is required")
            if name in CHANNEL_SECTIONS or any(i.name == name for i in instances):
                raise ConfigError(f"{where}.name: {name!r} is already a channel name")
            settings = {"enabled": True}
            for key, value in entry.items():
                if key == "name":
                    continue
                if key not in known:
                    raise ConfigError(f"{path}: unknown key notification.{kind}[{name}].{key}")
                dotted = f"notification.{kind}.{key}"
                settings[key] = _convert(dotted, value, origin=f"{path}: notification.{kind}[{name}].{key}")
            instances.append(ChannelInstance(kind, name, cls(**settings)))
    return tuple(instances)


_WINDOW_KEYS = ("name", "cron", "duration_minutes", "timezone", "projects", "recover")


def _parse_maintenance(raw: object, path: str) -> tuple[MaintenanceWindow, ...]:
    """The ``maintenance:`` list; each window's cron and zone are checked now, not at its first use."""
    from ds_monitor import cron

    if raw is None or raw == []:
        return ()
    if not isinstance(raw, list):
        raise ConfigError(f"{path}: maintenance must be a list of windows, got {_type_name(raw)}")
    windows = []
    for index, body in enumerate(raw):
        where = f"{path}: maintenance[{index}]"
        if not isinstance(body, dict):
            raise ConfigError(f"{where} must be a mapping with name, cron, duration_minutes")
        unknown = set(body) - set(_WINDOW_KEYS)
        if unknown:
            raise ConfigError(f"{where}: unknown key {sorted(unknown)[0]}")
        for key in ("name", "cron", "duration_minutes"):
            if body.get(key) in (None, ""):
                raise ConfigError(f"{where}.{key} is required")
        name = str(body["name"])
        where = f"{path}: maintenance[{name}]"
        if name in {w.name for w in windows}:
            raise ConfigError(f"{where}: the name is used twice")
        duration = body["duration_minutes"]
        if isinstance(duration, bool) or not isinstance(duration, (int, float)) or duration <= 0:
            raise ConfigError(f"{where}.duration_minutes: must be a number greater than 0, got {duration!r}")
        zone = str(body.get("timezone", "UTC"))
        if not _is_zone(zone):
            raise ConfigError(f"{where}.timezone: must be an IANA zone such as Asia/Shanghai, got {zone!r}")
        try:
            cron.parse(str(body["cron"]))
        except ConfigError as err:
            raise ConfigError(f"{where}.cron: {err}") from None
        projects = body.get("projects", ["*"])
        if isinstance(projects, str):
            projects = [projects]
        if not isinstance(projects, list) or not projects or not all(isinstance(p, str) and p for p in projects):
            raise ConfigError(f"{where}.projects must be a list of project name globs")
        recover = body.get("recover", True)
        if not isinstance(recover, bool):
            raise ConfigError(f"{where}.recover: expected true/false, got {recover!r}")
        windows.append(
            MaintenanceWindow(name, str(body["cron"]), float(duration), zone, tuple(projects), recover)
        )
    return tuple(windows)


def _build(cls: type, values: dict[str, object], prefix: str):
    kwargs = {}
    hints = typing.get_type_hints(cls)
    for f in fields(cls):
        dotted = f"{prefix}{f.name}"
        if dotted in _STRUCTURED_KEYS:
            continue  # parsed on their own, put in with replace()
        if is_dataclass(hints[f.name]):
            kwargs[f.name] = _build(hints[f.name], values, dotted + ".")
        elif dotted in values:
            kwargs[f.name] = values[dotted]
    return cls(**kwargs)


def _get_dotted(config: object, key: str) -> object:
    for part in key.split("."):
        config = getattr(config, part)
    return config


# key -> (check, what the value must be)
# Values whose surrounding whitespace can only be a copy-and-paste accident.
_STRIPPED_KEYS = frozenset({"dolphinscheduler.token", "dolphinscheduler.api_url", "dolphinscheduler.ui_url"})


def _is_header_safe(text: str) -> bool:
    """A value that can travel in an HTTP header as it is: no whitespace, no control characters."""
    return not any(c.isspace() or not c.isprintable() for c in text)


def _range(low: float, high: int, unit: str = "", *, above: bool = False) -> tuple[Callable[[object], bool], str]:
    """A rule for a number between ``low`` (excluded when ``above``) and ``high``; its text is the README's."""
    text = f"{'more than ' if above else 'from '}{low:g} to {high:d}" + (f" {unit}" if unit else "")
    return (lambda v: (v > low if above else v >= low) and v <= high), text


def _is_http_url(text: str, *, optional: bool = False) -> bool:
    """An http(s) URL with a host and, if any, a valid port; no whitespace (``urlsplit`` accepts almost anything)."""
    if not text:
        return optional
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises ValueError for a port that is no number or out of range
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname) and _is_header_safe(text)


# Seconds in a day and minutes in a week: the largest waits and windows that still make sense.
DAY_SECONDS = 86_400
WEEK_MINUTES = 10_080

_RULES: dict[str, tuple[Callable[[object], bool], str]] = {
    "dolphinscheduler.token": (_is_header_safe, "a DS token without spaces or control characters"),
    "dolphinscheduler.api_url": (_is_http_url, "an http(s) URL such as http://ds-host:12345/dolphinscheduler"),
    "dolphinscheduler.api_version": (lambda v: v in API_VERSIONS, "one of " + ", ".join(API_VERSIONS)),
    "dolphinscheduler.timeout_seconds": _range(0, 600, "seconds", above=True),
    "dolphinscheduler.server_timezone": (
        lambda v: v == "auto" or _is_zone(v),
        "auto or a zone such as Asia/Shanghai or GMT+8",
    ),
    "dolphinscheduler.ui_url": (lambda v: _is_http_url(v, optional=True), "empty or an http(s) URL"),
    "monitor.check_interval": _range(1, DAY_SECONDS, "seconds"),
    "monitor.timeout": _range(1, DAY_SECONDS, "seconds"),
    "monitor.time_window_hours": _range(0, 720, "hours", above=True),
    "monitor.max_failures_for_recovery": _range(0, 10_000),
    "monitor.execution_window_hours": _range(0, 168, "hours", above=True),
    "monitor.success_cooldown_minutes": _range(0, WEEK_MINUTES, "minutes"),
    "monitor.max_unchecked_minutes": _range(0, 1440, "minutes"),
    "monitor.missed_run_grace_minutes": _range(0, WEEK_MINUTES, "minutes"),
    "monitor.http_port": _range(0, 65535),
    "monitor.http_host": (lambda v: bool(v), "a host address such as 127.0.0.1"),
    "monitor.heartbeat_url": (lambda v: _is_http_url(v, optional=True), "empty or an http(s) URL such as https://hc-ping.com/<uuid>"),
    "retry.max_recovery_attempts": _range(0, 100),
    "retry.recovery_interval": _range(0, DAY_SECONDS, "seconds"),
    "state_dir": (lambda v: bool(v), "a directory path"),
    "logging.level": (lambda v: v.upper() in LOG_LEVELS, "one of " + ", ".join(LOG_LEVELS)),
    "logging.max_size": _range(0, 10_240, "MB", above=True),
    "logging.backup_count": _range(0, 1000),
    "notification.rate_limit.max_per_window": _range(1, 10_000),
    "notification.rate_limit.window_hours": _range(0, 720, "hours", above=True),
    "notification.task_log.max_lines": _range(1, 10_000),
    "notification.task_log.max_bytes": _range(64, 1_048_576, "bytes"),
    "notification.email.smtp_port": _range(1, 65535),
    "notification.email.timeout_seconds": _range(0, 600, "seconds", above=True),
    "notification.digest.at": (lambda v: _is_clock_time(v), "a local time HH:MM such as 09:00"),
    "notification.digest.timezone": (lambda v: _is_zone(v), "an IANA zone such as Asia/Shanghai"),
    "notification.webhook.timeout_seconds": _range(0, 600, "seconds", above=True),
    "notification.alertmanager.resend_minutes": _range(0, WEEK_MINUTES, "minutes", above=True),
    "coordination.backend": (lambda v: v in COORDINATION_BACKENDS, "one of " + ", ".join(COORDINATION_BACKENDS)),
    # ZooKeeper negotiates the session within 2..20 ticks of its server; below 1 s no server agrees.
    "coordination.zookeeper.session_timeout_seconds": _range(1, 600, "seconds"),
}


def parse_at(text: str) -> tuple[int, int]:
    """``notification.digest.at``: ``"09:00"`` -> (9, 0); ValueError otherwise."""
    hour, _, minute = text.strip().partition(":")
    value = (int(hour), int(minute))
    if not (0 <= value[0] <= 23 and 0 <= value[1] <= 59) or len(minute) != 2:
        raise ValueError(text)
    return value


def _is_clock_time(text: str) -> bool:
    try:
        parse_at(text)
    except ValueError:
        return False
    return True


def _is_zone(name: str) -> bool:
    try:
        parse_zone(name)
    except ValueError:
        return False
    return True


def _validate(config: Config, sources: dict[str, str]) -> None:
    for key, (check, expected) in _RULES.items():
        value = _get_dotted(config, key)
        if not check(value):
            origin = key + _env_origin(sources, key)
            raise ConfigError(f"{origin}: must be {expected}, got {mask_value(key, value) or '(empty)'}")
    for instance in config.notification.instances:
        prefix = f"notification.{instance.kind}."
        for key, (check, expected) in _RULES.items():
            value = getattr(instance.config, key[len(prefix) :], None) if key.startswith(prefix) else None
            if value is not None and not check(value):
                named = f"notification.{instance.kind}[{instance.name}].{key[len(prefix):]}"
                raise ConfigError(f"{named}: must be {expected}, got {mask_value(key, value)}")
    # The channels' own rules (webhook shapes, routes) need the senders' knowledge: the notify package
    # checks them (notify.validation), so loading the settings never imports the senders.
    _validate_coordination(config.coordination, sources)


def _validate_coordination(cfg: CoordinationConfig, sources: Mapping[str, str]) -> None:
    """``config check`` and every command: hosts and root are usable, or one line naming the key."""
    zk = cfg.zookeeper
    problem = _root_problem(zk.root)
    if problem:
        key = "coordination.zookeeper.root"
        raise ConfigError(f"{key}{_env_origin(sources, key)}: {problem}")
    if cfg.backend != "zookeeper" and not zk.hosts:
        return
    key = "coordination.zookeeper.hosts"
    if not zk.hosts.strip():
        raise ConfigError(
            f"{key}{_env_origin(sources, key)}: empty, but coordination.backend is zookeeper; "
            "set it to host:port[,host:port...] (DS's own registry works), e.g. zk1:2181,zk2:2181"
        )
    problem = _hosts_problem(zk.hosts)
    if problem:
        raise ConfigError(f"{key}{_env_origin(sources, key)}: {problem}")


# " (environment variable DS_X)" when the value came from the environment: the person fixes it where it was set.
def _env_origin(sources: Mapping[str, str], key: str) -> str:
    source = sources.get(key, "default")
    return f" (environment variable {source[4:]})" if source.startswith("env:") else ""


def _root_problem(root: str) -> str | None:
    if not root.startswith("/") or root == "/":
        return f"must be an absolute ZooKeeper path below / such as /ds-monitor, got {root!r}"
    if root.endswith("/") or "//" in root:
        return f"must not end with / or contain //, got {root!r}"
    parts = root.split("/")[1:]
    if any(part in (".", "..") or part == "zookeeper" and i == 0 for i, part in enumerate(parts)):
        return f"{root!r} is reserved by ZooKeeper or relative"
    if any(ord(ch) < 0x20 or ch == "\x7f" for ch in root):
        return "contains control characters"
    return None


def _hosts_problem(hosts: str) -> str | None:
    if "/" in hosts:
        return "a chroot suffix is not supported; put the path in coordination.zookeeper.root instead"
    for item in hosts.split(","):
        host, sep, port = item.strip().rpartition(":")
        if not item.strip():
            return f"empty entry in {hosts!r}"
        if not sep:
            host, port = item.strip(), "2181"
        if not host or " " in host:
            return f"{item.strip()!r} is not host:port"
        if not port.isdigit() or not 1 <= int(port) <= 65535:
            return f"{item.strip()!r}: the port must be a number from 1 to 65535"
    return None
