"""SMTP double on aiosmtpd: STARTTLS, implicit TLS or plain; AUTH; refusals; slow or failing DATA.

Certificates come from a throwaway trustme CA. Notes from notify-channels.md 7.4 that this relies
on: ``Controller(port=0)`` cannot be used (its start-up check connects to the configured port), so
a free port is picked first; implicit TLS needs ``auth_require_tls=False`` to advertise AUTH; the
authenticator must answer ``handled=False`` so a wrong password gets 535 at once.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import socket
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage


@dataclass
class SmtpDouble:
    """An SMTP server on 127.0.0.1. ``mode`` is "starttls", "ssl" (implicit TLS) or "plain"."""

    mode: str
    server_context: ssl.SSLContext | None = None
    users: dict[str, str] = field(default_factory=lambda: {"monitor": "s3cret-pass"})
    refuse: set[str] = field(default_factory=set)
    data_reply: str | None = None
    data_delay: float = 0.0
    # Whether EHLO advertises SMTPUTF8 (aiosmtpd's Controller does by default; many relays do not).
    smtputf8: bool = True
    received: list[Received] = field(default_factory=list)
    port: int = 0

    def start(self) -> SmtpDouble:
        self.port = free_port()
        kwargs: dict = {
            "hostname": "127.0.0.1",
            "port": self.port,
            "authenticator": self._authenticate,
            "enable_SMTPUTF8": self.smtputf8,
        }
        if self.mode == "starttls":
            kwargs.update(tls_context=self.server_context, require_starttls=False)
        elif self.mode == "ssl":
            kwargs.update(ssl_context=self.server_context, auth_require_tls=False)
        else:
            kwargs.update(auth_require_tls=False)
        self._controller = Controller(self, **kwargs)
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    def _authenticate(self, server, session, envelope, mechanism, auth_data) -> AuthResult:
        ok = (
            isinstance(auth_data, LoginPassword)
            and self.users.get(auth_data.login.decode()) == auth_data.password.decode()
        )
        return AuthResult(success=ok, handled=False)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.data_delay:
            await asyncio.sleep(self.data_delay)
        if self.data_reply:
            return self.data_reply
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), message))
        return "250 Message accepted"
