"""Monitor sweeps over the DS simulator with routes: each team's chat gets its own project's failures,
and Alertmanager (routed everything) follows each incident from failure to recovery."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from ds_monitor.config import AlertmanagerConfig, FeishuConfig, NotificationConfig, Route, SlackConfig
from ds_monitor.ds.models import FAILURE, SUCCESS
from ds_monitor.notify.manager import build_senders
from tests.notify.conftest import FakeClock
from tests.notify.doubles.alertmanager import AlertmanagerDouble
from tests.notify.doubles.feishu import FeishuDouble
from tests.notify.doubles.slack import SlackDouble
from tests.sweep.e2e import NOW, TOKEN, make_config, make_monitor

HOOK = "/services/T01/B02/slacksecret"


def test_routes_split_projects_and_alertmanager_resolves_the_recovered_incident(make_ds_sim, tmp_path):
    clock = FakeClock(NOW)  # the doubles' clock, on the sweeps' time
    feishu, slack, am = FeishuDouble("fs-token", clock=clock), SlackDouble(HOOK, clock=clock), AlertmanagerDouble(clock)
    try:
        sim = make_ds_sim(version="3.2", token=TOKEN, clock=lambda: NOW)
        finance, marketing = sim.add_project("finance-dw"), sim.add_project("marketing")
        start = NOW - timedelta(minutes=30)
        failed = {}
        for project, name in ((finance, "ledger_close"), (marketing, "campaign_sync")):
            definition = sim.add_definition(project, name)
            failed[name] = sim.add_instance(
                definition, state=FAILURE, start_time=start, end_time=start + timedelta(minutes=5)
            )
        notification = NotificationConfig(
            feishu=FeishuConfig(enabled=True, webhook_url=feishu.webhook("fs-token")),
            slack=SlackConfig(enabled=True, webhook_url=slack.webhook),
            alertmanager=AlertmanagerConfig(enabled=True, url=am.base_url),
            routes=(
                Route(channels=("alertmanager",), proceed=True),
                Route(channels=("feishu",), projects=("finance*",)),
                Route(channels=("slack",), projects=("marketing",)),
            ),
        )
        config = replace(make_config(sim, tmp_path), notification=notification)
        monitor = make_monitor(config, senders=build_senders(notification))

        report = monitor.sweep(NOW)
        assert report.ok, report.error
        feishu_text = " ".join(m["card"]["elements"][0]["text"]["content"] for m in feishu.accepted)
        slack_text = " ".join(b["text"]["text"] for m in slack.accepted for b in m["blocks"][1:-1])
        assert "ledger_close" in feishu_text and "campaign_sync" not in feishu_text
        assert "campaign_sync" in slack_text and "ledger_close" not in slack_text
        firing = am.firing()
        assert {alert["labels"]["workflow"] for alert in firing.values()} == {"ledger_close", "campaign_sync"}

        sim.master_pickup()
        sim.finish_instance(failed["ledger_close"], SUCCESS)
        clock.advance(120)
        report = monitor.sweep(NOW + timedelta(minutes=2))
        assert report.ok, report.error
        assert {alert["labels"]["workflow"] for alert in am.firing().values()} == {"campaign_sync"}
        assert any("Recovery succeeded" in m["card"]["header"]["title"]["content"] for m in feishu.accepted)
    finally:
        for double in (feishu, slack, am):
            double.close()
