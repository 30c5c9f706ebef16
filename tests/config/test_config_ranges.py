"""Every value gets a sane range, every file is named, every such error exits 2 (issue 15 item 8)."""

from __future__ import annotations

import pytest

from ds_monitor.config import _RULES, load_config
from ds_monitor.errors import ConfigError

RANGED = sorted(key for key, (_, text) in _RULES.items() if text.startswith(("from ", "more than ")))


def load(environ: dict[str, str], path: str | None = None):
    return load_config(path, environ=environ, dotenv_path=None)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DS_TIME_WINDOW_HOURS", "inf"),
        ("DS_TIME_WINDOW_HOURS", "nan"),
        ("DS_CHECK_INTERVAL", "1e10"),
        ("DS_MAX_RECOVERY_ATTEMPTS", "-inf"),
        ("DS_LOGGING__MAX_SIZE", "1e400"),
    ],
)
def test_infinite_and_absurd_numbers_name_the_variable(name, value):
    with pytest.raises(ConfigError, match=f"^(environment variable {name}|.*\\(environment variable {name}\\))"):
        load({name: value})


def test_yaml_infinity_names_the_key(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text("monitor:\n  check_interval: .inf\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="monitor.check_interval: expected a finite number"):
        load({}, str(path))


@pytest.mark.parametrize("key", RANGED)
def test_every_ranged_key_refuses_a_value_past_its_top(key):
    _, text = _RULES[key]
    top = float(text.split(" to ")[1].split()[0])
    name = "DS_" + key.upper().replace(".", "__")
    with pytest.raises(ConfigError, match=f"must be {text}"):
        load({name: str(int(top) + 1)})
    load({name: str(int(top))})  # the top itself is fine


@pytest.mark.parametrize(
    "url", ["http://[::1/ds", "http://ds-host:99999/ds", "http://ds-host:port/ds", "http://ds host/ds"]
)
def test_malformed_urls_are_configuration_errors(url):
    with pytest.raises(ConfigError, match=r"dolphinscheduler.api_url \(environment variable DS_API_URL\): must be"):
        load({"DS_API_URL": url})


def test_a_config_file_that_is_not_utf8_is_named(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_bytes("monitor:\n  # Überwachung\n".encode("latin-1"))
    with pytest.raises(ConfigError, match=f"config file {path} is not UTF-8 text \\(byte 0xdc at offset 13\\)"):
        load({}, str(path))


def test_a_dotenv_file_that_is_not_utf8_is_named(tmp_path):
    dotenv = tmp_path / ".env"
    dotenv.write_bytes("DS_TOKEN=caf\xe9\n".encode("latin-1"))
    with pytest.raises(ConfigError, match=f"environment file {dotenv} is not UTF-8 text"):
        load_config(None, environ={}, dotenv_path=str(dotenv))


def test_config_check_exits_2_for_an_infinite_window(run_cli):
    result = run_cli("config", "check", env={"DS_TIME_WINDOW_HOURS": "inf"})
    assert result.exit_code == 2
    assert "DS_TIME_WINDOW_HOURS" in result.stderr and "configuration OK" not in result.stdout
