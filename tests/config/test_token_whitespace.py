"""A token copied with a newline or spaces works; one with inner whitespace is a config error (issue 15 item 6)."""

from __future__ import annotations

import pytest

from ds_monitor.config import load_config
from ds_monitor.errors import ConfigError
from tests.sweep.e2e import NOW, TOKEN


def token_from(value: str) -> str:
    return load_config(None, environ={"DS_TOKEN": value}, dotenv_path=None).config.dolphinscheduler.token


@pytest.mark.parametrize("value", [f"{TOKEN}\n", f"  {TOKEN} \t", f"\r\n{TOKEN}\r\n"])
def test_surrounding_whitespace_is_stripped(value):
    assert token_from(value) == TOKEN


@pytest.mark.parametrize("value", ["abc def0123", "abc\tdef", "abc\x00def", "abc\x7fdef", "abc\u200bdef"])
def test_inner_whitespace_or_control_characters_name_ds_token(value):
    with pytest.raises(ConfigError) as raised:
        token_from(value)
    message = str(raised.value)
    assert message.startswith("dolphinscheduler.token (environment variable DS_TOKEN): must be a DS token")
    assert "abc" not in message and raised.value.exit_code == 2


def test_a_token_from_a_file_with_a_trailing_newline_reaches_ds(make_ds_sim, tmp_path, run_cli):
    sim = make_ds_sim(version="3.2", token=TOKEN, clock=lambda: NOW)
    sim.add_definition(sim.add_project("p"), "wf")
    (tmp_path / "config.yaml").write_text(f"dolphinscheduler:\n  token: |\n    {TOKEN}\n", encoding="utf-8")
    env = {
        "DS_API_URL": sim.url + "  ",
        "DS_STATE_DIR": str(tmp_path / "state"),
        "DS_LOGGING__FILE": str(tmp_path / "monitor.log"),
    }
    result = run_cli("check", "-c", str(tmp_path / "config.yaml"), env=env, clock=lambda: NOW)
    assert result.exit_code == 0, result.stdout + result.stderr
