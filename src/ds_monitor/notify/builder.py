"""Every word a person reads in a notification: the grouped digest and its rendering per channel.

One dispatch's events become one :class:`Digest` (spec section 3.7), rendered as DingTalk markdown,
WeCom markdown or text, and an e-mail (plain text plus escaped HTML). Each chat renderer fits the
service's size limit in UTF-8 bytes, cutting on a character boundary and saying "… and N more",
while the keyword and the mentions (which the services need to accept or route the message) are
kept in a tail that truncation never touches. Pure: no I/O, no clock.
"""

from __future__ import annotations

import html
import json
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from ds_monitor.notify.events import WITHHELD_NEVER, Event

DINGTALK_MAX_BODY_BYTES = 20_000
WECOM_MAX_MARKDOWN_BYTES = 4096
WECOM_MAX_TEXT_BYTES = 2048
EMAIL_MAX_ITEMS = 200
# Feishu/Lark custom bots refuse request bodies over 20 KB; the signature fields are added after rendering.
FEISHU_MAX_BODY_BYTES = 20_000
FEISHU_SIGNING_RESERVE_BYTES = 100
# Slack Block Kit: at most 50 blocks per message, 3,000 characters per section text, 150 per header.
SLACK_MAX_BLOCKS = 50
SLACK_MAX_TEXT_CHARS = 3000
SLACK_MAX_HEADER_CHARS = 150
# Messages are refused (msg_blocks_too_long) at about 13,000 characters of block text in all, well
# below the documented limits (reported: slackapi/bolt-js#2509); we keep under 12,000.
SLACK_MAX_TOTAL_CHARS = 12_000
# Long DS error texts and names are cut so that one incident can never crowd out the others.
MAX_VALUE_CHARS = 300
# Log excerpt lines per failed task as chat messages try them, longest first, when a message is too
# big: excerpts are trimmed (then left out) before any incident is.
EXCERPT_LEVELS: tuple[int | None, ...] = (None, 5, 0)

KIND_LABELS = {
    "failure_detected": "Failure detected",
    "threshold_exceeded": "Repeated failures (systemic, not recovered)",
    "recovery_triggered": "Recovery triggered",
    "recovery_succeeded": "Recovery succeeded",
    "recovery_failed": "Recovery attempt failed",
    "recovery_exhausted": "Recovery attempts exhausted",
    "recovery_withheld": "Recovery withheld by policy",
    "missed_run": "Missed scheduled run",
    "stuck_running": "Run stuck",
    "project_unreadable": "Project cannot be read",
    "project_readable": "Project readable again",
    "monitor_unhealthy": "Monitor unhealthy",
    "monitor_recovered": "Monitor recovered",
    "digest": "Daily digest",
}
# WeCom markdown font colours: warning = red-ish, info = green, comment = grey.
_WECOM_COLOURS = {
    "recovery_succeeded": "info",
    "monitor_recovered": "info",
    "project_readable": "info",
    "recovery_triggered": "comment",
}
_PRODUCT = "ds-monitor"
_LINK_LABEL = "Open in DolphinScheduler"


@dataclass(frozen=True)
class TaskLines:
    """One failed task of an incident: a summary line, its log excerpt and a link to it in DS."""

    summary: str
    excerpt: tuple[str, ...] = ()
    link: str = ""


@dataclass(frozen=True)
class DigestItem:
    """One incident line of a digest, already worded but not yet formatted for a channel."""

    kind: str
    heading: str
    facts: tuple[tuple[str, str], ...]
    ds_error: str = ""
    link: str = ""
    tasks: tuple[TaskLines, ...] = ()


@dataclass(frozen=True)
class Digest:
    """One grouped message: a short headline with counts, notes, and one item per event.

    The events themselves travel along for the machine channels (generic webhook, Alertmanager),
    which send data rather than words.
    """

    title: str
    summary: str
    notes: tuple[str, ...] = ()
    items: tuple[DigestItem, ...] = ()
    footer: str = ""
    events: tuple[Event, ...] = ()
    # rate key -> messages suppressed before this one (the data behind ``notes``)
    suppressed_before: tuple[tuple[str, int], ...] = ()
    created_at: datetime | None = None
    test: bool = False


@dataclass(frozen=True)
class EmailContent:
    subject: str
    text: str
    html: str
    omitted: int = 0


@dataclass(frozen=True)
class ChatMentions:
    """Who a chat message should notify; rendered both into the text and into the API fields."""

    mobiles: tuple[str, ...] = ()
    user_ids: tuple[str, ...] = ()
    at_all: bool = False


@dataclass(frozen=True)
class Sent:
    """A channel took the message: a note for the report, and how many of the digest's last items
    were left out to fit its size limit (they stay owed and go with the next message)."""

    note: str = ""
    omitted: int = 0


@dataclass(frozen=True)
class Rendered:
    """A chat message body ready to send (UTF-8 JSON) and how many items truncation left out."""

    body: bytes
    omitted: int = 0
    payload: dict = field(default_factory=dict)


def build_digest(events: Sequence[Event], suppressed_before: Mapping[str, int], now: datetime) -> Digest:
    """Group one dispatch's events into a digest; ``suppressed_before`` maps rate keys to counts."""
    counts = Counter(event.kind for event in events)
    parts = [f"{KIND_LABELS[kind]} ×{n}" if n > 1 else KIND_LABELS[kind] for kind, n in counts.items()]
    noun = "event" if len(events) == 1 else "events"
    notes = []
    for rate_key, count in suppressed_before.items():
        subject = _rate_key_subject(rate_key, events)
        plural = "message was" if count == 1 else "messages were"
        notes.append(f"Rate limit: {count} earlier {plural} suppressed for {subject} since the last one.")
    return Digest(
        title=f"[{_PRODUCT}] {len(events)} {noun}: " + ", ".join(parts),
        summary=", ".join(parts),
        notes=tuple(notes),
        items=tuple(_item(event) for event in events),
        footer=f"Sent by {_PRODUCT} at {now.isoformat(timespec='seconds')}",
        events=tuple(events),
        suppressed_before=tuple(suppressed_before.items()),
        created_at=now,
    )


def build_test_digest(now: datetime) -> Digest:
    """The message of ``notify test``: proves the channel works end to end."""
    return Digest(
        title=f"[{_PRODUCT}] test message",
        summary="Test message: if you can read this, this channel is configured correctly.",
        footer=f"Sent by {_PRODUCT} at {now.isoformat(timespec='seconds')}",
        created_at=now,
        test=True,
    )


def render_dingtalk(
    digest: Digest,
    *,
    keyword: str = "",
    mentions: ChatMentions = ChatMentions(),
    max_body_bytes: int = DINGTALK_MAX_BODY_BYTES,
) -> Rendered:
    """A DingTalk markdown message whose whole encoded body fits ``max_body_bytes``.

    DingTalk markdown has no tables, so each item is a bold heading and a few lines. The keyword
    (the robot's security check) and the ``@mobile`` mentions are written into the text's tail.
    """
    head = f"### {digest.title}\n\n" + "".join(f"> {_md(note)}\n\n" for note in digest.notes)
    if not digest.items:
        head += f"{digest.summary}\n\n"
    def blocks(excerpt_lines: int | None) -> list[str]:
        return [
            _markdown_block(i, item, line_break="  \n", excerpt_lines=excerpt_lines)
            for i, item in enumerate(digest.items, 1)
        ]

    tail_parts = [digest.footer]
    if mentions.mobiles:
        tail_parts.append(" ".join(f"@{mobile}" for mobile in mentions.mobiles))
    if keyword:
        tail_parts.append(keyword)
    tail = "\n" + "  \n".join(tail_parts)

    payload = {
        "msgtype": "markdown",
        "markdown": {"title": _cut_chars(digest.title, 100), "text": ""},
        "at": {"atMobiles": list(mentions.mobiles), "isAtAll": mentions.at_all},
    }
    overhead = len(_json_bytes(payload))
    text, omitted = _fit_trimming(head, blocks, tail, max_body_bytes - overhead, _json_string_size)
    payload["markdown"]["text"] = text
    return Rendered(body=_json_bytes(payload), omitted=omitted, payload=payload)


def render_wecom(digest: Digest, *, mentions: ChatMentions = ChatMentions()) -> Rendered:
    """A WeCom message: markdown (4096 content bytes), or text (2048) when it must mention by mobile.

    Only WeCom text messages can mention by mobile number or mention everyone; markdown mentions
    user ids with ``<@userid>`` in the content.
    """
    as_text = bool(mentions.mobiles) or mentions.at_all
    if as_text:
        content, omitted = _plain_text(digest, WECOM_MAX_TEXT_BYTES)
        text: dict = {"content": content}
        user_ids = list(mentions.user_ids) + (["@all"] if mentions.at_all else [])
        if user_ids:
            text["mentioned_list"] = user_ids
        if mentions.mobiles:
            text["mentioned_mobile_list"] = list(mentions.mobiles)
        payload = {"msgtype": "text", "text": text}
    else:
        head = f"## {digest.title}\n" + "".join(f"> {_md(note)}\n" for note in digest.notes)
        if not digest.items:
            head += f"{digest.summary}\n"

        def blocks(excerpt_lines: int | None) -> list[str]:
            return [
                _markdown_block(
                    i,
                    item,
                    line_break="\n",
                    colour=_WECOM_COLOURS.get(item.kind, "warning"),
                    excerpt_lines=excerpt_lines,
                )
                for i, item in enumerate(digest.items, 1)
            ]

        tail = f'\n<font color="comment">{digest.footer}</font>'
        if mentions.user_ids:
            tail += "\n" + " ".join(f"<@{user}>" for user in mentions.user_ids)
        content, omitted = _fit_trimming(head, blocks, tail, WECOM_MAX_MARKDOWN_BYTES, _utf8_size)
        payload = {"msgtype": "markdown", "markdown": {"content": content}}
    return Rendered(body=_json_bytes(payload), omitted=omitted, payload=payload)


def render_feishu(digest: Digest, *, keyword: str = "", max_body_bytes: int = FEISHU_MAX_BODY_BYTES) -> Rendered:
    """A Feishu/Lark interactive card: coloured header, one ``lark_md`` text with the items, footer.

    The whole encoded body, signature fields included, fits ``max_body_bytes``; the keyword (the
    bot's security check) is in the text's tail, which truncation never touches.
    """
    head = "".join(f"*{_md(note)}*\n" for note in digest.notes)
    if not digest.items:
        head += f"{digest.summary}\n"
    def blocks(excerpt_lines: int | None) -> list[str]:
        return [
            _markdown_block(i, item, line_break="\n", excerpt_lines=excerpt_lines)
            for i, item in enumerate(digest.items, 1)
        ]

    tail = "\n" + digest.footer + (f"\n{keyword}" if keyword else "")
    recovered = {"recovery_succeeded", "monitor_recovered"}
    colour = "blue" if digest.test else "green" if all(i.kind in recovered for i in digest.items) else "red"
    text: dict = {"tag": "lark_md", "content": ""}
    payload = {
        "msg_type": "interactive",
        "card": {
            "config": {"wide_screen_mode": True},
            "header": {"title": {"tag": "plain_text", "content": _cut_chars(digest.title, 100)}, "template": colour},
            "elements": [{"tag": "div", "text": text}],
        },
    }
    budget = max_body_bytes - FEISHU_SIGNING_RESERVE_BYTES - len(_json_bytes(payload))
    text["content"], omitted = _fit_trimming(head, blocks, tail, budget, _json_string_size)
    return Rendered(body=_json_bytes(payload), omitted=omitted, payload=payload)


def render_slack(digest: Digest) -> Rendered:
    """A Slack Block Kit message: header, notes, one mrkdwn section per item, footer; within Slack's limits.

    ``text`` is the notification fallback Slack shows where blocks cannot be (push, previews).
    Items that do not fit the 50 blocks or the total budget are counted in "… and N more".
    """
    title = _cut_chars(digest.title, SLACK_MAX_HEADER_CHARS)
    head: list[dict] = [{"type": "header", "text": {"type": "plain_text", "text": title}}]
    if digest.notes:
        head.append(_slack_context("\n".join(_slack_escape(note) for note in digest.notes)))
    if not digest.items:
        head.append(_slack_section(_slack_escape(digest.summary)))
    footer = _slack_context(_slack_escape(digest.footer))

    def more(count: int) -> dict:
        return _slack_section(_more_line(count).strip())

    room_blocks = SLACK_MAX_BLOCKS - len(head) - 2  # the footer, and "… and N more" if needed
    room_chars = SLACK_MAX_TOTAL_CHARS - sum(map(_slack_chars, [*head, footer, more(len(digest.items))]))
    # Log excerpts are trimmed (then left out) before any incident is.
    for level in EXCERPT_LEVELS:
        sections = [_slack_section(_slack_item(i, item, level)) for i, item in enumerate(digest.items, 1)]
        if len(sections) <= room_blocks and sum(map(_slack_chars, sections)) <= room_chars:
            break
    kept: list[dict] = []
    for section in sections:
        if len(kept) == room_blocks or _slack_chars(section) > room_chars:
            break
        kept.append(section)
        room_chars -= _slack_chars(section)
    omitted = len(sections) - len(kept)
    blocks = head + kept + ([more(omitted)] if omitted else []) + [footer]
    payload = {"text": _cut_chars(digest.title, SLACK_MAX_TEXT_CHARS), "blocks": blocks}
    return Rendered(body=_json_bytes(payload), omitted=omitted, payload=payload)


def render_email(digest: Digest) -> EmailContent:
    """Subject, plain text and HTML (every DS value escaped) of the e-mail."""
    text, omitted = _plain_text(digest, max_bytes=None)
    return EmailContent(subject=digest.title, text=text, html=_html(digest), omitted=omitted)


# --- items -------------------------------------------------------------------------------------


def _item(event: Event) -> DigestItem:
    facts: list[tuple[str, str]] = []
    if event.project_name or event.project_code:
        facts.append(("Project", _named(event.project_name, event.project_code)))
    if event.definition_code is not None:
        facts.append(("Workflow", _named(event.definition_name, event.definition_code)))
    if event.instance_id is not None:
        facts.append(("Instance", f"{event.instance_id} {_value(event.instance_name)}".strip()))
    if event.state:
        facts.append(("State", _value(event.state)))
    if event.fire_time is not None:
        facts.append(("Scheduled for", _time(event.fire_time)))
    if event.start_time is not None:
        facts.append(("Started", _time(event.start_time)))
    if event.end_time is not None:
        facts.append(("Ended", _time(event.end_time)))
    if event.attempt is not None:
        limit = f"/{event.max_attempts}" if event.max_attempts is not None else ""
        facts.append(("Attempt", f"{event.attempt}{limit}"))
    if event.failures is not None:
        facts.append(("Failures in window", str(event.failures)))
    if event.failure_class:
        evidence = f": {_value(event.failure_line)}" if event.failure_line else ""
        facts.append(("Failure class", f"{event.failure_class}{evidence}"))
    detail = describe(event)
    if detail:
        facts.append(("Detail", _value(detail)))
    facts.extend((label, _value(value)) for label, value in (_figures(event) if event.figures else event.facts))
    if event.definition_code is None:
        heading = KIND_LABELS[event.kind]
    else:
        heading = f"{KIND_LABELS[event.kind]}: {_value(event.definition_name) or event.definition_code}"
    return DigestItem(
        kind=event.kind,
        heading=heading,
        facts=tuple(facts),
        ds_error=_value(event.ds_error),
        link=event.ui_url,
        tasks=tuple(_task_lines(task) for task in event.failed_tasks),
    )


def describe(event: Event) -> str:
    """Why the event happened, in one sentence ("" when its kind needs none): the item's "Detail"
    line, and the ``detail`` the machine channels send. An event saved by an older version brings
    its sentence along (``Event.detail``)."""
    text = event.detail or _WHY.get(event.kind, _no_words)(event)
    if event.silence_id:
        end = event.silence_end.isoformat() if event.silence_end else ""
        note = f"held by silence {event.silence_id} ({event.silence_reason}) until {end}; still open"
        text = f"{text} ({note})" if text else note
    return text


def _no_words(event: Event) -> str:
    return ""


def _figures(event: Event) -> list[tuple[str, str]]:
    """The digest's figures, one (label, value) line each."""
    figures, now = event.figures, event.fire_time
    ended = figures.succeeded + figures.failed
    rate = f", {100 * figures.succeeded / ended:.0f}% of the {ended} ended succeeded" if ended else ""
    period = f"{figures.since.isoformat(timespec='minutes')} to {now.isoformat(timespec='minutes') if now else ''}"
    return [
        ("Period", period),
        ("Failures", f"{figures.failures} in {figures.workflows} workflow(s)"),
        ("Auto-recoveries", f"{figures.triggered} triggered, {figures.succeeded} succeeded{rate}"),
        ("Failed most (7 days)", ", ".join(f"{name} ×{n}" for name, n in figures.flakiest) or "none"),
        ("Missed runs", str(figures.missed)),
        ("Stuck runs", str(figures.stuck)),
        ("Messages suppressed", str(figures.suppressed)),
        ("Events silenced", str(figures.silenced)),
        ("DS calls", str(figures.ds_calls)),
    ]


def _threshold(event: Event) -> str:
    hours = event.window.total_seconds() / 3600 if event.window else 0
    return f"{event.failures} failures in {hours:g} h: systemic, not recovered"


def _missed(event: Event) -> str:
    return f"no instance for the {event.fire_time.isoformat() if event.fire_time else ''} fire"


def _stuck(event: Event) -> str:
    if event.window is not None:
        started = _short_time(event.start_time) if event.start_time else ""
        return f"still {event.state} {_span(event.window)} after its start at {started}"
    if event.next_fire is not None:
        return f"still {event.state} when the next fire {_short_time(event.next_fire)} arrived"
    return ""


def _unhealthy(event: Event) -> str:
    if event.failed_sweeps is None:
        return event.error
    return f"{event.failed_sweeps} consecutive sweeps failed ({event.error_reason}): {event.error}"


def _triggered(event: Event) -> str:
    if event.called_at is not None:
        return f"DS took up the recover call of {event.called_at.isoformat()} that had no answer"
    return f"DS accepted the recover command (attempt {event.attempt} of {event.max_attempts})"


def _exhausted(event: Event) -> str:
    return (
        f"ended {event.state} after {event.attempt} of {event.max_attempts} attempts: no more automatic recovery"
    )


def _withheld(event: Event) -> str:
    evidence = f" ({event.evidence})" if event.evidence else ""
    if event.reason == WITHHELD_NEVER:
        klass = event.failure_class or "unknown"
        return f"{klass} failure{evidence}: policy {event.policy} says recover: never"
    return (
        f"deterministic failure{evidence}: a retry would fail the same way; policy {event.policy}"
        " recovers transient failures only"
    )


_WHY: dict[str, Callable[[Event], str]] = {
    "threshold_exceeded": _threshold,
    "missed_run": _missed,
    "stuck_running": _stuck,
    "monitor_unhealthy": _unhealthy,
    "monitor_recovered": lambda event: "sweeps succeed again",
    "project_unreadable": lambda event: event.error,
    "project_readable": lambda event: "read again",
    "recovery_triggered": _triggered,
    "recovery_succeeded": lambda event: f"ended {event.state}",
    "recovery_failed": lambda event: f"ended {event.state} (attempt {event.attempt} of {event.max_attempts})",
    "recovery_exhausted": _exhausted,
    "recovery_withheld": _withheld,
    "digest": lambda event: f"daily digest for {event.figures.day}" if event.figures else "",
}


def _task_lines(task: Mapping) -> TaskLines:
    """``load (SQL) on 10.0.0.7:1234 · retries 1/1 · 2m 7s`` and the excerpt, line by line."""
    parts = [f"{_value(task.get('name', ''))} ({_value(task.get('type', ''))})"]
    if task.get("host"):
        parts[0] += f" on {_value(task['host'])}"
    parts.append(f"retries {task.get('retries', 0)}/{task.get('max_retries', 0)}")
    seconds = task.get("duration_seconds")
    if seconds is not None:
        parts.append(_duration(int(seconds)))
    excerpt = tuple(str(task.get("log_excerpt") or "").splitlines())
    return TaskLines(summary=" · ".join(parts), excerpt=excerpt, link=str(task.get("ui_url") or ""))


def _duration(seconds: int) -> str:
    hours, rest = divmod(max(seconds, 0), 3600)
    minutes, secs = divmod(rest, 60)
    return " ".join(f"{n}{unit}" for n, unit in ((hours, "h"), (minutes, "m"), (secs, "s")) if n) or "0s"


def _rate_key_subject(rate_key: str, events: Sequence[Event]) -> str:
    for event in events:
        if event.rate_key == rate_key:
            if event.definition_code is None:
                return "the monitor itself"
            return "workflow " + _named(event.definition_name, event.definition_code)
    return rate_key


def _named(name: str, code: int | None) -> str:
    return f"{_value(name)} ({code})" if name else str(code)


def _value(text: str) -> str:
    """One line, at most MAX_VALUE_CHARS characters: DS texts can be multi-line stack traces."""
    return _cut_chars(" ".join(str(text).split()), MAX_VALUE_CHARS)


def _time(moment: datetime) -> str:
    return moment.isoformat(sep=" ", timespec="seconds")


def _short_time(moment: datetime) -> str:
    """To the minute, seconds only when there are any: how a schedule's times are written."""
    return moment.isoformat(timespec="minutes" if moment.second == 0 and moment.microsecond == 0 else "seconds")


def _span(span: timedelta) -> str:
    minutes = span.total_seconds() / 60
    if minutes >= 60 and minutes % 60 == 0:
        return f"{minutes / 60:g} h"
    return f"{minutes:g} min"


def _cut_chars(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --- formats -----------------------------------------------------------------------------------


def _md(text: str) -> str:
    """Neutralise the characters that would start markup in chat markdown (names can hold any)."""
    return text.replace("<", "‹").replace(">", "›").replace("[", "(").replace("]", ")").replace("`", "'")


def _markdown_block(
    number: int, item: DigestItem, *, line_break: str, colour: str = "", excerpt_lines: int | None = None
) -> str:
    """One incident; ``excerpt_lines`` caps each failed task's log excerpt (None: all of it)."""
    heading = f"**{number}. {_md(item.heading)}**"
    if colour:
        heading = f'<font color="{colour}">{heading}</font>'
    lines = [heading]
    if item.facts:
        lines.append(" · ".join(f"{label}: {_md(value)}" for label, value in item.facts))
    if item.ds_error:
        lines.append(f"DS error: {_md(item.ds_error)}")
    for task in item.tasks:
        link = f" [task]({task.link})" if task.link else ""
        lines.append(f"Failed task: {_md(task.summary)}{link}")
        lines.extend(f"> {_md(line)}" for line in _excerpt(task, excerpt_lines))
    if item.link:
        lines.append(f"[{_LINK_LABEL}]({item.link})")
    return line_break.join(lines) + "\n\n"


def _slack_escape(text: str) -> str:
    """Slack mrkdwn needs only these three escaped; anything else in a DS name is shown as written."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _slack_item(number: int, item: DigestItem, excerpt_lines: int | None = None) -> str:
    lines = [f"*{number}. {_slack_escape(item.heading)}*"]
    if item.facts:
        lines.append(" · ".join(f"{label}: {_slack_escape(value)}" for label, value in item.facts))
    if item.ds_error:
        lines.append(f"DS error: {_slack_escape(item.ds_error)}")
    for task in item.tasks:
        lines.append(f"Failed task: {_slack_escape(task.summary)}")
        shown = _excerpt(task, excerpt_lines)
        if shown:
            # Backticks cannot be escaped inside a Slack code block; a look-alike keeps it closed.
            excerpt = "\n".join(_slack_escape(line).replace("```", "ʼʼʼ") for line in shown)
            lines.append(f"```{excerpt}```")
    link = f"<{item.link.replace('|', '%7C').replace('>', '%3E')}|{_LINK_LABEL}>" if item.link else ""
    # The link is the most useful line: cut the text before it, never the link itself.
    text = _cut_chars("\n".join(lines), SLACK_MAX_TEXT_CHARS - len(link) - 1)
    return f"{text}\n{link}" if link else text


def _slack_section(text: str) -> dict:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def _slack_context(text: str) -> dict:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": _cut_chars(text, SLACK_MAX_TEXT_CHARS)}]}


def _slack_chars(block: dict) -> int:
    if block["type"] == "context":
        return sum(len(element["text"]) for element in block["elements"])
    return len(block["text"]["text"])


def _excerpt(task: TaskLines, excerpt_lines: int | None) -> tuple[str, ...]:
    return task.excerpt if excerpt_lines is None else task.excerpt[:excerpt_lines]


def _plain_blocks(digest: Digest, excerpt_lines: int | None) -> list[str]:
    blocks = []
    for i, item in enumerate(digest.items, 1):
        lines = [f"\n{i}. {item.heading}"] + [f"   {label}: {value}" for label, value in item.facts]
        if item.ds_error:
            lines.append(f"   DS error: {item.ds_error}")
        if item.link:
            lines.append(f"   {item.link}")
        for task in item.tasks:
            lines.append(f"   Failed task: {task.summary}" + (f" {task.link}" if task.link else ""))
            lines.extend(f"     | {line}" for line in _excerpt(task, excerpt_lines))
        blocks.append("\n".join(lines) + "\n")
    return blocks


def _plain_text(digest: Digest, max_bytes: int | None) -> tuple[str, int]:
    head = digest.title + "\n" + "".join(note + "\n" for note in digest.notes)
    if not digest.items:
        head += digest.summary + "\n"
    tail = f"\n{digest.footer}"
    if max_bytes is None:
        blocks = _plain_blocks(digest, None)
        shown = blocks[:EMAIL_MAX_ITEMS]
        omitted = len(blocks) - len(shown)
        return head + "".join(shown) + (_more_line(omitted) if omitted else "") + tail, omitted
    return _fit_trimming(head, lambda level: _plain_blocks(digest, level), tail, max_bytes, _utf8_size)


def _html(digest: Digest) -> str:
    esc = html.escape
    columns = ("Project", "Workflow", "Instance", "State", "Started", "Ended", "Attempt")
    rows = []
    for item in digest.items[:EMAIL_MAX_ITEMS]:
        facts = dict(item.facts)
        cells = [f"<td>{esc(item.heading)}</td>"] + [f"<td>{esc(facts.get(c, ''))}</td>" for c in columns]
        extra = "; ".join(f"{k}: {v}" for k, v in item.facts if k not in columns)
        error = esc(item.ds_error) + (("<br>" if item.ds_error else "") + esc(extra) if extra else "")
        for task in item.tasks:
            link = f' <a href="{esc(task.link, quote=True)}">task</a>' if task.link else ""
            error += f"<br>Failed task: {esc(task.summary)}{link}"
            if task.excerpt:
                error += "<pre>" + esc("\n".join(task.excerpt)) + "</pre>"
        cells.append(f"<td>{error}</td>")
        link = f'<a href="{esc(item.link, quote=True)}">{_LINK_LABEL}</a>' if item.link else ""
        cells.append(f"<td>{link}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    omitted = len(digest.items) - len(rows)
    parts = [f"<h3>{esc(digest.title)}</h3>"]
    parts += [f"<p><em>{esc(note)}</em></p>" for note in digest.notes]
    if rows:
        header = "".join(f"<th>{esc(c)}</th>" for c in ("Event", *columns, "DS error / detail", "Link"))
        parts.append(
            '<table border="1" cellpadding="4" cellspacing="0" style="border-collapse:collapse">'
            f"<thead><tr>{header}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
        )
    else:
        parts.append(f"<p>{esc(digest.summary)}</p>")
    if omitted:
        parts.append(f"<p>{esc(_more_line(omitted))}</p>")
    parts.append(f"<p><small>{esc(digest.footer)}</small></p>")
    return "<html><body>" + "\n".join(parts) + "</body></html>\n"


# --- size budgets ------------------------------------------------------------------------------


def _more_line(omitted: int) -> str:
    return f"\n… and {omitted} more\n"


def _fit_trimming(
    head: str,
    blocks: Callable[[int | None], list[str]],
    tail: str,
    budget: int,
    size: Callable[[str], int],
) -> tuple[str, int]:
    """:func:`_fit` with log excerpts trimmed first: the incident list outranks the log lines.

    ``blocks(level)`` renders every item with at most ``level`` excerpt lines per task; the first
    level whose blocks all fit whole is used, else the shortest one is fitted item by item.
    """
    fixed = size(head) + size(tail)
    for level in EXCERPT_LEVELS:
        rendered = blocks(level)
        if fixed + sum(size(block) for block in rendered) <= budget:
            return _fit(head, rendered, tail, budget, size)
    return _fit(head, rendered, tail, budget, size)


def _fit(head: str, blocks: list[str], tail: str, budget: int, size: Callable[[str], int]) -> tuple[str, int]:
    """``head + as many blocks as fit + "… and N more" + tail`` within ``budget`` (sizes add up).

    The tail always survives; a first block too big on its own is cut on a character boundary.
    """
    more_room = size(_more_line(len(blocks)))
    room = budget - size(head) - size(tail)
    if room < 0:
        head = _cut_to(head, budget - size(tail), size)
        room = 0
    kept: list[str] = []
    for i, block in enumerate(blocks):
        reserve = more_room if i < len(blocks) - 1 else 0
        if size(block) + reserve <= room:
            kept.append(block)
            room -= size(block)
            continue
        if not kept and room - more_room > 0:
            kept.append(_cut_to(block, room - more_room, size))
        break
    omitted = len(blocks) - len(kept)
    return head + "".join(kept) + (_more_line(omitted) if omitted else "") + tail, omitted


def _cut_to(text: str, budget: int, size: Callable[[str], int]) -> str:
    """The longest prefix of ``text`` (plus "…") within ``budget``; never splits a character."""
    if size(text) <= budget:
        return text
    low, high = 0, len(text)
    while low < high:
        mid = (low + high + 1) // 2
        if size(text[:mid] + "…") <= budget:
            low = mid
        else:
            high = mid - 1
    return text[:low] + "…" if low else ""


def _utf8_size(text: str) -> int:
    return len(text.encode("utf-8"))


def _json_string_size(text: str) -> int:
    """Bytes ``text`` adds inside a UTF-8 JSON string (escapes included); additive over concatenation."""
    return len(json.dumps(text, ensure_ascii=False).encode("utf-8")) - 2


def _json_bytes(payload: dict) -> bytes:
    # ensure_ascii=False: DingTalk counts body bytes, and \uXXXX escapes would double CJK sizes.
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
