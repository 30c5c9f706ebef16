"""E-mail sender over SMTP: implicit TLS (465), STARTTLS (587) or plain (a local relay).

Facts from notify-channels.md section 3: certificates are verified (``create_default_context()``;
smtplib's own default verifies nothing), every connection has a timeout (the default is to hang),
AUTH only when a username is set, one message to all To and Cc addresses, and a partial refusal
is a success that names the refused addresses.
"""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from ds_monitor.config import EmailConfig
from ds_monitor.errors import NotifyError
from ds_monitor.notify.builder import Digest, EmailContent, Sent, render_email


class EmailSender:
    """Sends digests as one multipart (plain text + HTML) message per dispatch."""

    name = "email"
    label = "E-mail"
    limits = None

    def __init__(self, config: EmailConfig, *, ssl_context: ssl.SSLContext | None = None):
        self._config = config
        self._ssl_context = ssl_context
        self.destination = f"email:{config.smtp_host}:{config.smtp_port}"

    def send(self, digest: Digest) -> Sent:
        """Send one digest; the note names refused recipients, raises NotifyError on failure."""
        content = render_email(digest)
        refused = self._deliver(self.message(digest, content))
        if not refused:
            return Sent(omitted=content.omitted)
        names = ", ".join(f"{addr} ({code})" for addr, (code, _) in sorted(refused.items()))
        return Sent(note=f"refused by the server for {names}", omitted=content.omitted)

    def message(self, digest: Digest, content: EmailContent | None = None) -> EmailMessage:
        """The MIME message: plain text first, HTML as the preferred alternative."""
        cfg = self._config
        content = content or render_email(digest)
        msg = EmailMessage()
        msg["Subject"] = content.subject
        msg["From"] = cfg.from_addr
        msg["To"] = ", ".join(cfg.to_addrs)
        if cfg.cc_addrs:
            msg["Cc"] = ", ".join(cfg.cc_addrs)
        msg["Date"] = formatdate(localtime=True)
        msg["Message-ID"] = make_msgid(domain=cfg.from_addr.rpartition("@")[2] or None)
        msg.set_content(content.text)
        msg.add_alternative(content.html, subtype="html")
        return msg

    def _deliver(self, msg: EmailMessage) -> dict:
        cfg = self._config
        where = f"SMTP {cfg.smtp_host}:{cfg.smtp_port}"
        context = self._ssl_context or ssl.create_default_context()
        try:
            if cfg.use_ssl:
                smtp = smtplib.SMTP_SSL(
                    cfg.smtp_host, cfg.smtp_port, timeout=cfg.timeout_seconds, context=context
                )
            else:
                smtp = smtplib.SMTP(cfg.smtp_host, cfg.smtp_port, timeout=cfg.timeout_seconds)
            with smtp:
                # Each step smtplib refuses with SMTPNotSupportedError gets its own diagnosis.
                if cfg.starttls:
                    with _unsupported(
                        f"{where}: the server does not offer STARTTLS: use notification.email.use_ssl (implicit "
                        "TLS, usually port 465), another port (587), or starttls: false for a plain relay",
                        "no_starttls",
                    ):
                        smtp.starttls(context=context)
                    smtp.ehlo()
                if cfg.username:
                    with _unsupported(
                        f"{where}: the server offers no AUTH on this connection: enable "
                        "notification.email.use_ssl or starttls, or leave username empty",
                        "no_auth",
                    ):
                        smtp.login(cfg.username, cfg.password)
                with _unsupported(
                    f"{where}: an address is not plain ASCII and the server does not offer SMTPUTF8: "
                    "use ASCII addresses in notification.email from_addr / to_addrs / cc_addrs",
                    "no_smtputf8",
                ):
                    return smtp.send_message(msg, cfg.from_addr, list(cfg.to_addrs) + list(cfg.cc_addrs))
        except smtplib.SMTPAuthenticationError as err:
            raise NotifyError(
                f"{where}: authentication failed ({err.smtp_code}): check notification.email.username "
                "and password",
                retryable=False,
                code=err.smtp_code,
            ) from err
        except smtplib.SMTPRecipientsRefused as err:
            names = ", ".join(f"{addr} ({code})" for addr, (code, _) in sorted(err.recipients.items()))
            temporary = all(400 <= code < 500 for code, _ in err.recipients.values())
            raise NotifyError(
                f"{where}: every recipient was refused: {names}",
                retryable=temporary,
                code="recipients_refused",
            ) from err
        except smtplib.SMTPResponseException as err:
            text = (
                err.smtp_error.decode("utf-8", "replace")
                if isinstance(err.smtp_error, bytes)
                else str(err.smtp_error)
            )
            raise NotifyError(
                f"{where}: {err.smtp_code} {text}", retryable=400 <= err.smtp_code < 500, code=err.smtp_code
            ) from err
        except smtplib.SMTPServerDisconnected as err:
            # smtplib reports a read timeout as a disconnect; a timeout is not worth waiting for twice.
            if isinstance(err.__context__, TimeoutError):
                raise NotifyError(
                    f"{where}: no answer within {cfg.timeout_seconds:g} s (wrong port for use_ssl/starttls?)",
                    retryable=False,
                    code="timeout",
                ) from err
            raise NotifyError(
                f"{where}: the server closed the connection: {err}", retryable=True, code="disconnected"
            ) from err
        except ssl.SSLError as err:
            raise NotifyError(
                f"{where}: TLS failed: {err.reason or err}", retryable=False, code="tls"
            ) from err
        except TimeoutError as err:
            raise NotifyError(
                f"{where}: no connection within {cfg.timeout_seconds:g} s", retryable=False, code="timeout"
            ) from err
        except OSError as err:
            raise NotifyError(
                f"{where}: cannot connect: {err.strerror or err}", retryable=True, code="connection"
            ) from err


@contextmanager
def _unsupported(message: str, code: str) -> Iterator[None]:
    """Turn smtplib's SMTPNotSupportedError of one step into that step's own NotifyError."""
    try:
        yield
    except smtplib.SMTPNotSupportedError as err:
        raise NotifyError(message, retryable=False, code=code) from err
