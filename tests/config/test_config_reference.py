"""The README's configuration reference and config/config.yaml must not drift from the real defaults."""

from __future__ import annotations

import re
from pathlib import Path

from ds_monitor.config import _RULES, ENV_ALIASES, Config, load_config

ROOT = Path(__file__).resolve().parents[2]
ROW = re.compile(r"^\| `(?P<key>[a-z_.]+)` \| `(?P<default>[^`]*)` \| (?P<env>[^|]*) \|")


def readme_rows() -> dict[str, tuple[str, str]]:
    rows = {}
    for line in (ROOT / "README.md").read_text(encoding="utf-8").splitlines():
        match = ROW.match(line)
        if match:
            rows[match["key"]] = (match["default"], match["env"])
    return rows


def test_readme_lists_every_key_with_its_real_default_and_env_names():
    defaults = load_config(None, environ={}, dotenv_path=None)
    rows = readme_rows()
    expected = {key: value for key, value, _ in defaults.effective_values() if key != "projects"}
    assert set(rows) == set(expected)
    for key, value in expected.items():
        shown, env = rows[key]
        assert shown == (value if value != "" else '""'), key
        if key in ENV_ALIASES:
            assert f"`{ENV_ALIASES[key]}`" in env, key


def test_shipped_config_file_is_exactly_the_defaults():
    loaded = load_config(str(ROOT / "config" / "config.yaml"), environ={}, dotenv_path=None)
    assert loaded.config == Config()
    assert loaded.file_found


def test_readme_states_the_range_of_every_ranged_key():
    rows = {
        line.split("`")[1]: line
        for line in (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
        if ROW.match(line)
    }
    ranged = {key: text for key, (_, text) in _RULES.items() if text.startswith(("from ", "more than "))}
    assert ranged
    for key, text in ranged.items():
        assert f"range: {text}" in rows[key], key
