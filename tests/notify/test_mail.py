"""E-mail sender against aiosmtpd in STARTTLS, implicit TLS and plain modes; real MIME parsed back."""

from dataclasses import replace

import pytest

from ds_monitor.config import EmailConfig
from ds_monitor.errors import NotifyError
from ds_monitor.notify.builder import Sent, build_digest, build_test_digest
from ds_monitor.notify.events import Event
from ds_monitor.notify.mail import EmailSender
from tests.notify.conftest import T0
from tests.notify.doubles.smtp import SmtpDouble, free_port

PASSWORD = "s3cret-pass"
MODES = {
    "starttls": {"use_ssl": False, "starttls": True, "username": "monitor", "password": PASSWORD},
    "ssl": {"use_ssl": True, "starttls": False, "username": "monitor", "password": PASSWORD},
    "plain": {"use_ssl": False, "starttls": False},
}


def settings(port: int, mode: str, **overrides) -> EmailConfig:
    base = EmailConfig(
        enabled=True,
        smtp_host="127.0.0.1",
        smtp_port=port,
        from_addr="monitor@example.com",
        to_addrs=("ops@example.com", "dev@example.com"),
        cc_addrs=("lead@example.com",),
        timeout_seconds=5,
        **MODES[mode],
    )
    return replace(base, **overrides)


@pytest.fixture
def smtp(request, tls):
    double = SmtpDouble(request.param, server_context=tls["server"]).start()
    yield double
    double.stop()


def failure_event():
    return Event(
        "failure_detected",
        project_name="data-platform",
        definition_code=1,
        definition_name="etl <nightly> & co",
        instance_id=7,
        state="FAILURE",
        start_time=T0,
        ui_url="http://ds.example/ui/7",
    )


@pytest.mark.parametrize("smtp", list(MODES), indirect=True)
def test_one_multipart_message_to_every_to_and_cc(smtp, tls):
    sender = EmailSender(settings(smtp.port, smtp.mode), ssl_context=tls["client"])
    assert sender.send(build_digest([failure_event()], {}, T0)) == Sent()
    [received] = smtp.received
    assert received.mail_from == "monitor@example.com"
    assert received.rcpt_tos == ["ops@example.com", "dev@example.com", "lead@example.com"]
    message = received.message
    assert message["To"] == "ops@example.com, dev@example.com"
    assert message["Cc"] == "lead@example.com"
    assert message["Subject"] == "[ds-monitor] 1 event: Failure detected"
    assert message["Date"] and message["Message-ID"].endswith("@example.com>")
    assert message.get_content_type() == "multipart/alternative"
    html = message.get_body(("html",)).get_content()
    text = message.get_body(("plain",)).get_content()
    assert "etl &lt;nightly&gt; &amp; co (1)" in html and "<nightly>" not in html
    assert "etl <nightly> & co (1)" in text


@pytest.mark.parametrize("smtp", ["starttls"], indirect=True)
def test_wrong_password_is_535_and_not_retryable(smtp, tls):
    sender = EmailSender(settings(smtp.port, "starttls", password="wrong-pass"), ssl_context=tls["client"])
    with pytest.raises(NotifyError, match=r"authentication failed \(535\)") as caught:
        sender.send(build_test_digest(T0))
    assert caught.value.code == 535 and not caught.value.retryable
    assert "wrong-pass" not in str(caught.value)


@pytest.mark.parametrize("smtp", ["starttls"], indirect=True)
def test_auth_without_tls_is_explained(smtp, tls):
    sender = EmailSender(settings(smtp.port, "starttls", starttls=False), ssl_context=tls["client"])
    with pytest.raises(NotifyError, match="offers no AUTH"):
        sender.send(build_test_digest(T0))


@pytest.mark.parametrize("smtp", ["ssl"], indirect=True)
def test_certificates_are_verified_by_default(smtp):
    with pytest.raises(NotifyError, match="TLS failed: CERTIFICATE_VERIFY_FAILED") as caught:
        EmailSender(settings(smtp.port, "ssl")).send(build_test_digest(T0))
    assert not caught.value.retryable


@pytest.mark.parametrize("smtp", ["ssl"], indirect=True)
def test_plain_client_on_an_implicit_tls_port_times_out_instead_of_hanging(smtp):
    sender = EmailSender(settings(smtp.port, "plain", timeout_seconds=0.3))
    with pytest.raises(NotifyError, match="no answer within 0.3 s") as caught:
        sender.send(build_test_digest(T0))
    assert caught.value.code == "timeout"


def test_connection_refused_is_retryable():
    with pytest.raises(
        NotifyError, match=r"SMTP 127.0.0.1:\d+: cannot connect: Connection refused"
    ) as caught:
        EmailSender(settings(free_port(), "plain")).send(build_test_digest(T0))
    assert caught.value.retryable


@pytest.mark.parametrize("smtp", ["plain"], indirect=True)
def test_partial_refusal_is_sent_and_names_the_refused_address(smtp):
    smtp.refuse = {"dev@example.com"}
    note = EmailSender(settings(smtp.port, "plain")).send(build_test_digest(T0))
    assert note == Sent(note="refused by the server for dev@example.com (550)")
    assert smtp.received[0].rcpt_tos == ["ops@example.com", "lead@example.com"]


@pytest.mark.parametrize("smtp", ["plain"], indirect=True)
def test_every_recipient_refused_is_a_failure(smtp):
    smtp.refuse = {"ops@example.com", "dev@example.com", "lead@example.com"}
    with pytest.raises(NotifyError, match="every recipient was refused") as caught:
        EmailSender(settings(smtp.port, "plain")).send(build_test_digest(T0))
    assert not caught.value.retryable


@pytest.mark.parametrize("smtp", ["plain"], indirect=True)
def test_temporary_failure_on_data_is_retryable(smtp):
    smtp.data_reply = "421 4.3.2 try again later"
    with pytest.raises(NotifyError, match="421") as caught:
        EmailSender(settings(smtp.port, "plain")).send(build_test_digest(T0))
    assert caught.value.retryable


@pytest.mark.parametrize("smtp", ["plain"], indirect=True)
def test_starttls_not_offered_is_said_so_not_blamed_on_auth(smtp, tls):
    sender = EmailSender(settings(smtp.port, "plain", starttls=True), ssl_context=tls["client"])
    with pytest.raises(NotifyError, match="does not offer STARTTLS") as raised:
        sender.send(build_test_digest(T0))
    assert "AUTH" not in str(raised.value) and raised.value.code == "no_starttls"


def test_a_non_ascii_address_without_smtputf8_is_said_so(tls):
    smtp = SmtpDouble("plain", smtputf8=False).start()
    try:
        sender = EmailSender(settings(smtp.port, "plain", to_addrs=("运维@example.com",)), ssl_context=tls["client"])
        with pytest.raises(NotifyError, match="not plain ASCII and the server does not offer SMTPUTF8") as raised:
            sender.send(build_test_digest(T0))
    finally:
        smtp.stop()
    assert "AUTH" not in str(raised.value) and raised.value.code == "no_smtputf8"
