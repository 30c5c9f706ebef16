"""URL userinfo and credential-looking query parameters never reach any output (issue 15 item 5)."""

from __future__ import annotations

import logging

import pytest

from ds_monitor.config import load_config
from ds_monitor.ds.client import DSClient
from ds_monitor.logging_setup import redact, setup_logging
from ds_monitor.redaction import mask_url
from ds_monitor.runner import startup_line
from tests.sweep.e2e import NOW, TOKEN

PASSWORD = "Pw-s3cret-9"


def with_userinfo(url: str) -> str:
    return url.replace("://", f"://admin:{PASSWORD}@", 1)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (f"http://admin:{PASSWORD}@ds:12345/dolphinscheduler", "http://***@ds:12345/dolphinscheduler"),
        ("https://proxy/hook?apikey=abc&x-auth=def&page=2", "https://proxy/hook?apikey=***&x-auth=***&page=2"),
        ("https://h/p?client_secret=s&session_id=t&AccessToken=u", "https://h/p?client_secret=***&session_id=***&AccessToken=***"),
    ],
)
def test_mask_url_hides_userinfo_and_credential_parameters(url, shown):
    assert mask_url(url) == shown


@pytest.mark.parametrize(
    "text",
    [
        f"GET http://admin:{PASSWORD}@ds:12345/dolphinscheduler/projects failed",
        f"proxy at https://{PASSWORD}@ds/ refused",
        f"calling https://h/x?api_key={PASSWORD}&page=1",
        f"calling https://h/x?client_secret={PASSWORD}",
    ],
)
def test_redact_masks_userinfo_and_credential_parameters_without_knowing_them(text):
    assert PASSWORD not in redact(text)


def test_config_values_startup_line_log_file_and_links_hide_the_password(make_ds_sim, tmp_path):
    sim = make_ds_sim(version="3.2", token=TOKEN, clock=lambda: NOW)
    api_url = with_userinfo(sim.url)
    loaded = load_config(None, environ={"DS_API_URL": api_url, "DS_TOKEN": TOKEN}, dotenv_path=None)
    shown = dict((key, value) for key, value, _ in loaded.effective_values())
    assert shown["dolphinscheduler.api_url"] == mask_url(api_url) and PASSWORD not in mask_url(api_url)
    assert PASSWORD in loaded.secret_values()
    assert PASSWORD not in startup_line(loaded)

    log_file = tmp_path / "monitor.log"
    setup_logging("INFO", file=str(log_file), secrets=loaded.secret_values())
    logging.getLogger("ds_monitor.test").warning("DS at %s: %s", api_url, startup_line(loaded))
    assert PASSWORD not in log_file.read_text(encoding="utf-8")

    client = DSClient(loaded.config.dolphinscheduler)
    assert PASSWORD not in client.instance_ui_url(1, 2, 3) and "admin" not in client.instance_ui_url(1, 2, 3)
    client.close()


def test_config_check_prints_no_password(make_ds_sim, run_cli):
    sim = make_ds_sim(version="3.2", token=TOKEN, clock=lambda: NOW)
    sim.add_project("p")
    env = {"DS_API_URL": with_userinfo(sim.url), "DS_TOKEN": TOKEN}
    result = run_cli("config", "check", env=env, clock=lambda: NOW)
    assert result.exit_code == 0, result.stdout + result.stderr
    assert "http://***@127.0.0.1" in result.stdout
    assert PASSWORD not in result.stdout + result.stderr
