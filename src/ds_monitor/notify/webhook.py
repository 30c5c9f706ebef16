"""What the webhook channels have in common: one JSON POST with a timeout, judged by the service's rule.

The DingTalk and WeCom robots answer HTTP 200 for application errors, so for them success is
``errcode == 0`` and nothing else (notify-channels.md section 9); the other channels override
:meth:`WebhookSender.judge`. Redirects are not followed (DingTalk answers 302 while it
blocks a robot), every call has a timeout, and every error text is free of the webhook's
credentials: requests puts the full URL, query included, into its exception texts.
"""

from __future__ import annotations

import hashlib
import re
from abc import ABC, abstractmethod
from typing import ClassVar
from urllib.parse import parse_qsl, urlsplit, urlunsplit

import requests
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError

from ds_monitor.errors import ConfigError, NotifyError
from ds_monitor.notify.builder import Digest, Rendered, Sent
from ds_monitor.notify.pacer import PaceLimits
from ds_monitor.redaction import redact

CONNECT_TIMEOUT_SECONDS = 5.0
READ_TIMEOUT_SECONDS = 10.0
_MAX_ERRMSG_CHARS = 200
# urllib3 prefixes causes with the connection object: "HTTPConnection(host=..., port=...): " or "<...>: ".
_CONNECTION_PREFIX = re.compile(r"^(?:<[^>]*>|HTTPS?Connection\([^)]*\)): ")


def split_webhook(
    value: str, *, param: str, default_url: str, config_key: str, what: str
) -> tuple[str, str, list[tuple[str, str]]]:
    """(send URL without query, credential, other query parameters) from a webhook URL or a bare credential.

    People paste the whole URL where the bare token belongs and the other way round; both work.
    Raises ConfigError naming ``config_key`` and never echoing the value.
    """
    value = value.strip()
    parts = urlsplit(value)
    if not parts.scheme:
        if not value or "/" in value or "?" in value:
            raise ConfigError(f"{config_key}: neither a webhook URL nor a bare {what}")
        return default_url, value, []
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"{config_key}: must be an http(s) URL or a bare {what}")
    query = parse_qsl(parts.query, keep_blank_values=True)
    credential = next((v for k, v in query if k == param), "")
    if not credential:
        raise ConfigError(f"{config_key}: has no {param}")
    return (
        urlunsplit((parts.scheme, parts.netloc, parts.path, "", "")),
        credential,
        [(k, v) for k, v in query if k != param],
    )


def safe_host(url: str) -> str:
    """``host[:port]`` of ``url`` for messages: never the user-info, path or query, which may hold secrets."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    return f"{host}:{parts.port}" if parts.port else host


def _never_sent(err: requests.ConnectionError) -> bool:
    """True when the request cannot have left: no connection was made (refused, DNS, connect timeout)."""
    cause = err.args[0] if err.args else None
    reason = getattr(cause, "reason", cause)
    return isinstance(reason, (NewConnectionError, NameResolutionError, ConnectTimeoutError)) or isinstance(
        err, requests.ConnectTimeout
    )


def destination_id(channel: str, credential: str) -> str:
    """A stable name for one robot that can be stored and shown: a short hash, never the credential."""
    return f"{channel}:{hashlib.sha256(credential.encode('utf-8')).hexdigest()[:12]}"


class WebhookSender(ABC):
    """Base of the robot senders: subclasses say how to address, render and explain errors."""

    name: ClassVar[str]
    label: ClassVar[str]
    limits: ClassVar[PaceLimits]

    def __init__(
        self,
        credential: str,
        *,
        session: requests.Session | None = None,
        timeout: tuple[float, float] = (CONNECT_TIMEOUT_SECONDS, READ_TIMEOUT_SECONDS),
    ):
        self._credential = credential
        # Every string that must never reach a log or an error text (subclasses may add more).
        self._secrets: tuple[str, ...] = (credential,)
        self._session = session or requests.Session()
        self._timeout = timeout
        self.destination = destination_id(self.name, credential)

    def send(self, digest: Digest) -> Sent:
        """Render and send one digest; says how many items did not fit, raises NotifyError on failure."""
        rendered = self.render(digest)
        self.post(rendered.body)
        note = f"{rendered.omitted} items left out to fit the size limit" if rendered.omitted else ""
        return Sent(note=note, omitted=rendered.omitted)

    @abstractmethod
    def render(self, digest: Digest) -> Rendered:
        """The channel's message body for ``digest``."""

    @abstractmethod
    def url(self) -> str:
        """The request URL, credentials included: never log it."""

    @abstractmethod
    def explain(self, code: int, message: str) -> NotifyError:
        """Turn a refusal (the service's error code, or the HTTP status for plain-HTTP services) into an
        error that says what it means and whether to retry."""

    def headers(self, body: bytes) -> dict[str, str]:
        """The request headers for ``body``; a signing channel adds its signature here."""
        return {"Content-Type": "application/json; charset=utf-8"}

    def post(self, body: bytes) -> None:
        """POST one UTF-8 JSON body; return if the service accepted it, raise NotifyError otherwise."""
        url = self.url()
        host = safe_host(url)
        try:
            response = self._session.post(
                url,
                data=body,
                headers=self.headers(body),
                timeout=self._timeout,
                allow_redirects=False,
            )
        except requests.ConnectTimeout as err:
            raise NotifyError(
                f"{self.label}: no connection to {host} within {self._timeout[0]:g} s",
                retryable=True,
                code="connect_timeout",
            ) from err
        except requests.ReadTimeout as err:
            # The service may have delivered it: retrying now could announce it twice.
            raise NotifyError(
                f"{self.label}: no answer from {host} within {self._timeout[1]:g} s "
                "(the message may have been delivered)",
                retryable=False,
                code="timeout",
            ) from err
        except requests.ConnectionError as err:
            if _never_sent(err):
                raise NotifyError(
                    f"{self.label}: cannot reach {host}: {self._reason(err)}", retryable=True, code="connection"
                ) from err
            # The connection broke after the request went out: the service may have delivered it.
            raise NotifyError(
                f"{self.label}: the connection to {host} broke before an answer: {self._reason(err)} "
                "(the message may have been delivered)",
                retryable=False,
                code="no_answer",
            ) from err
        except requests.RequestException as err:
            raise NotifyError(
                f"{self.label}: cannot reach {host}: {self._reason(err)}", retryable=True, code="connection"
            ) from err
        self.judge(response, host)

    def judge(self, response: requests.Response, host: str) -> None:
        """Accept or explain the answer. The robots' rule: HTTP 200 and ``errcode == 0``, nothing else."""
        status = response.status_code
        if status != 200:
            hint = (
                " (a redirect, not followed: the service may be blocking this robot)"
                if 300 <= status < 400
                else ""
            )
            raise NotifyError(
                f"{self.label}: HTTP {status} from {host}{hint}", retryable=status >= 500, code=status
            )
        try:
            data = response.json()
            errcode = int(data["errcode"])
        except (ValueError, KeyError, TypeError) as err:
            # Typically a proxy's or gateway's HTML page in front of the service: the robot never saw it.
            raise NotifyError(
                f"{self.label}: HTTP 200 from {host} but the answer is not the robot's JSON "
                "(a proxy in between?)",
                retryable=True,
                code="not_json",
            ) from err
        if errcode != 0:
            raise self.explain(errcode, self.clean(str(data.get("errmsg", ""))))

    def clean(self, text: str) -> str:
        """A service's error text, shortened and without this channel's credentials."""
        return redact(text, self._secrets)[:_MAX_ERRMSG_CHARS]

    def _reason(self, err: Exception) -> str:
        """The innermost cause of a requests error (``[Errno 111] Connection refused``), redacted."""
        inner = err.args[0] if err.args else err
        reason = getattr(inner, "reason", inner)
        # urllib3's ProtocolError("Connection aborted.", cause): the cause is the informative part.
        if isinstance(reason, Exception) and len(reason.args) == 2 and isinstance(reason.args[1], Exception):
            reason = reason.args[1]
        return redact(_CONNECTION_PREFIX.sub("", str(reason)), self._secrets)
