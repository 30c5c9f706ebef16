"""Failed tasks and log excerpts in messages: shown per channel, trimmed before any incident is dropped."""

from __future__ import annotations

import json
from dataclasses import replace

from ds_monitor.notify.builder import (
    DINGTALK_MAX_BODY_BYTES,
    SLACK_MAX_TOTAL_CHARS,
    WECOM_MAX_MARKDOWN_BYTES,
    build_digest,
    render_dingtalk,
    render_email,
    render_feishu,
    render_slack,
    render_wecom,
)
from ds_monitor.notify.generic import build_document
from tests.notify.conftest import T0
from tests.notify.test_builder import failure

TASK = {
    "name": "load",
    "type": "SQL",
    "host": "10.0.0.7:1234",
    "retries": 1,
    "max_retries": 3,
    "duration_seconds": 127,
    "log_excerpt": "[INFO] run load.sql\nERROR 1146 (42S02): Table 'dw.stage_orders' doesn't exist",
    "ui_url": "http://ds.example/ui/projects/9/task/instances?processInstanceId=1&taskName=load",
}


def with_task(i=1, lines=2, line_bytes=40):
    excerpt = "\n".join(f"ERROR line {n} " + "x" * line_bytes for n in range(lines)) if lines > 2 else None
    task = {**TASK, "log_excerpt": excerpt} if excerpt else TASK
    return replace(failure(i), failure_class="deterministic", failure_line="ERROR 1146", failed_tasks=(task,))


def test_every_channel_names_the_task_and_quotes_the_excerpt():
    digest = build_digest([with_task()], {}, T0)

    dingtalk = json.loads(render_dingtalk(digest).body)["markdown"]["text"]
    feishu = render_feishu(digest).payload["card"]["elements"][0]["text"]["content"]
    wecom = json.loads(render_wecom(digest).body)["markdown"]["content"]
    email = render_email(digest)

    for text in (dingtalk, feishu, wecom, email.text):
        assert "Failed task: load (SQL) on 10.0.0.7:1234 · retries 1/3 · 2m 7s" in text
        assert "ERROR 1146 (42S02): Table 'dw.stage_orders' doesn't exist" in text
        assert "Failure class: deterministic: ERROR 1146" in text
    assert "> ERROR 1146" in dingtalk and "[task](http://ds.example/ui/projects/9/task/instances" in wecom
    assert "<pre>[INFO] run load.sql\nERROR 1146 (42S02): Table &#x27;dw.stage_orders&#x27;" in email.html


def test_wecom_trims_excerpts_before_it_drops_an_incident():
    events = [with_task(i, lines=20, line_bytes=60) for i in range(1, 4)]

    rendered = render_wecom(build_digest(events, {}, T0))
    content = json.loads(rendered.body)["markdown"]["content"]

    assert rendered.omitted == 0  # all three incidents are listed ...
    assert len(content.encode("utf-8")) <= WECOM_MAX_MARKDOWN_BYTES
    assert "ERROR line 0" in content and "ERROR line 19" not in content  # ... with shorter excerpts


def test_dingtalk_keeps_whole_excerpts_when_they_fit_and_drops_them_before_incidents():
    few = render_dingtalk(build_digest([with_task(1, lines=20)], {}, T0))
    many = render_dingtalk(build_digest([with_task(i, lines=20, line_bytes=200) for i in range(40)], {}, T0))

    assert "ERROR line 19" in json.loads(few.body)["markdown"]["text"]
    assert len(many.body) <= DINGTALK_MAX_BODY_BYTES
    text = json.loads(many.body)["markdown"]["text"]
    assert "ERROR line 5" not in text  # excerpts went first
    assert many.omitted < 40


def test_slack_quotes_the_excerpt_in_a_code_block_and_trims_it_first():
    one = render_slack(build_digest([with_task()], {}, T0)).payload["blocks"][1]["text"]["text"]
    many = render_slack(build_digest([with_task(i, lines=20, line_bytes=200) for i in range(30)], {}, T0))

    assert "Failed task: load (SQL) on 10.0.0.7:1234 · retries 1/3 · 2m 7s" in one
    assert "```[INFO] run load.sql\nERROR 1146 (42S02): Table 'dw.stage_orders' doesn't exist```" in one
    texts = [b["text"]["text"] for b in many.payload["blocks"] if b["type"] == "section"]
    assert sum(map(len, texts)) <= SLACK_MAX_TOTAL_CHARS and many.omitted < 30
    assert not any("ERROR line 19" in text for text in texts)


def test_generic_document_carries_class_and_tasks():
    [event] = build_document(build_digest([with_task()], {}, T0))["events"]

    assert (event["failure_class"], event["failure_line"]) == ("deterministic", "ERROR 1146")
    assert event["failed_tasks"] == [TASK]
