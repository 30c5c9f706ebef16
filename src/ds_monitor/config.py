"""Configuration: defaults < config file (YAML) < environment (including ``.env``).

The file format is the seed tool's (``dolphinscheduler``, ``monitor``, ``retry``, ``projects``,
``logging``, ``notification`` sections), so an existing ``config/config.yaml`` and ``.env`` keep
working. Every value is typed and validated here; errors name the key, variable or file.
"""

from __future__ import annotations

from dataclasses import dataclass, field


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
class WeWorkConfig:
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
class NotificationConfig:
    rate_limit: RateLimitConfig = field(default_factory=RateLimitConfig)
    dingtalk: DingTalkConfig = field(default_factory=DingTalkConfig)
    wework: WeWorkConfig = field(default_factory=WeWorkConfig)
    email: EmailConfig = field(default_factory=EmailConfig)


@dataclass(frozen=True)
class Config:
    dolphinscheduler: DolphinSchedulerConfig = field(default_factory=DolphinSchedulerConfig)
    monitor: MonitorConfig = field(default_factory=MonitorConfig)
    retry: RetryConfig = field(default_factory=RetryConfig)
    projects: tuple[ProjectSelection, ...] = ()
    state_dir: str = "logs"
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    notification: NotificationConfig = field(default_factory=NotificationConfig)
