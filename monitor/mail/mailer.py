"""Sending email over SMTP: one message per call, every failure made a plain DeliveryError."""

from __future__ import annotations

import base64
import logging
import re
import smtplib
import socket
import ssl
import unicodedata
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime, formatdate
from pathlib import Path
from typing import Protocol

from monitor.config.settings import EmailSettings
from monitor.errors import DeliveryError

log = logging.getLogger(__name__)

HEADER_LIMIT = 200  # characters; a subject longer than this is noise, or an attack
_MESSAGE_ID = re.compile(r"^<[A-Za-z0-9._+-]+@[A-Za-z0-9.-]+>$")
_ADDRESS = re.compile(r"^[^\s<>@,;:\"]+@[^\s<>@,;:\"]+$")
_SEND_POLICY = policy.default.clone(max_line_length=998)
_UNSAFE_CATEGORIES = {"Cc", "Cf", "Zl", "Zp"}  # controls, bidi/zero-width, line separators


@dataclass(frozen=True)
class InlineImage:
    """A picture sent inside the message, shown by the HTML through ``src="cid:<cid>"``."""

    cid: str  # e.g. "chart@harken", without angle brackets
    data: bytes
    subtype: str = "png"

    def data_uri(self) -> str:
        """The picture as a ``data:`` URI, for HTML written to a file instead of mailed."""
        return f"data:image/{self.subtype};base64,{base64.b64encode(self.data).decode('ascii')}"


@dataclass(frozen=True)
class Email:
    """A rendered message, before it has recipients: what a template produced."""

    subject: str
    text: str
    html: str | None
    images: tuple[InlineImage, ...] = ()  # pictures the HTML shows by cid

    def html_for_file(self) -> str:
        """The HTML with its pictures as data URIs, so a browser shows it from a file."""
        return with_data_uris(self.html or "", self.images)


def with_data_uris(html: str, images: Sequence[InlineImage]) -> str:
    """``html`` with every ``cid:`` reference to one of ``images`` replaced by a data URI."""
    for image in images:
        html = html.replace(f"cid:{image.cid}", image.data_uri())
    return html


def clean_header(value: str, limit: int = HEADER_LIMIT) -> str:
    """One line of printable text fit for a header: no CR/LF or controls, at most ``limit`` chars."""
    kept = "".join(
        " " if unicodedata.category(char) in _UNSAFE_CATEGORIES else char for char in value
    )
    line = " ".join(kept.split())
    if len(line) > limit:
        line = line[: limit - 1].rstrip() + "…"
    return line


class Mailer:
    """Sends multipart mail (plain text, then HTML) through the configured SMTP server."""

    def __init__(self, settings: EmailSettings) -> None:
        self.settings = settings
        self.where = f"{settings.host}:{settings.port}"

    def send(
        self,
        to: Sequence[str],
        subject: str,
        text: str,
        html: str | None,
        message_id: str,
        *,
        date: datetime | None = None,
        images: Sequence[InlineImage] = (),
        references: Sequence[str] = (),
    ) -> None:
        """Send one message to ``to``; raise DeliveryError saying where and what went wrong.

        ``references`` are the Message-IDs of the thread it continues, oldest first: it answers
        the last, so mail clients show it under the earlier messages.
        """
        recipients = [clean_header(address) for address in to]
        if not recipients:
            raise DeliveryError(f"SMTP {self.where}: no recipients for {message_id}")
        bad = [address for address in recipients if not _ADDRESS.match(address)]
        if bad:
            raise DeliveryError(f"SMTP {self.where}: not an email address: {', '.join(bad)}")
        for identifier in (message_id, *references):
            if not _MESSAGE_ID.match(identifier):
                raise ValueError(f"malformed Message-ID {identifier!r}; expected <local@domain>")
        message = self._compose(recipients, subject, text, html, message_id, date, images)
        if references:
            message["In-Reply-To"] = references[-1]
            message["References"] = " ".join(references)
        with self._smtp_errors(), self._connect() as smtp:
            self._log_in(smtp)
            refused = smtp.send_message(message, to_addrs=recipients)
        if refused:
            # The message reached the others; sending again would duplicate it for them.
            log.warning(
                "SMTP %s: %s accepted for some recipients but refused for %s",
                self.where,
                message_id,
                self._refusals(refused),
            )

    def _compose(
        self,
        recipients: list[str],
        subject: str,
        text: str,
        html: str | None,
        message_id: str,
        date: datetime | None,
        images: Sequence[InlineImage] = (),
    ) -> EmailMessage:
        message = EmailMessage()
        message["From"] = clean_header(self.settings.sender)
        message["To"] = ", ".join(recipients)
        message["Subject"] = clean_header(subject)
        message["Date"] = format_datetime(date) if date else formatdate(localtime=False)
        message["Message-ID"] = message_id
        message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies, please
        message.set_content(text)
        if html is not None:
            message.add_alternative(html, subtype="html")
            # multipart/alternative: text, then multipart/related: the HTML and its pictures.
            body = message.get_body(("html",))
            for image in images:
                if body is not None:
                    body.add_related(
                        image.data,
                        "image",
                        image.subtype,
                        cid=f"<{image.cid}>",
                        disposition="inline",
                    )
        # Folded at 78, Python 3.11 drops the space between two encoded words, so a non-ASCII
        # subject would lose spaces; one long header line (at most 998 bytes) keeps them. The
        # bodies are encoded already, so this changes only how the headers are written.
        message.policy = _SEND_POLICY
        return message

    def check(self) -> None:
        """Connect and log in as a send would, sending nothing (``harken doctor``)."""
        with self._smtp_errors(), self._connect() as smtp:
            smtp.ehlo_or_helo_if_needed()
            self._log_in(smtp)

    @contextmanager
    def _smtp_errors(self) -> Iterator[None]:
        """Every smtplib, TLS and socket failure as one DeliveryError saying what and where."""
        try:
            yield
        except DeliveryError:
            raise
        except smtplib.SMTPRecipientsRefused as error:
            raise DeliveryError(
                f"SMTP {self.where}: every recipient refused: {self._refusals(error.recipients)}"
            ) from None
        except smtplib.SMTPAuthenticationError as error:
            raise DeliveryError(
                f"SMTP {self.where}: login as {self.settings.username!r} refused: {self._reply(error.smtp_code, error.smtp_error)}; check [email] username and the password in ${self.settings.password_env}"
            ) from None
        except smtplib.SMTPNotSupportedError:
            raise DeliveryError(
                f"SMTP {self.where}: the server does not support {'STARTTLS' if self.settings.security == 'starttls' else 'login'}; check [email] security"
            ) from None
        except smtplib.SMTPResponseException as error:
            raise DeliveryError(
                f"SMTP {self.where}: server answered {self._reply(error.smtp_code, error.smtp_error)}"
            ) from None
        except smtplib.SMTPServerDisconnected as error:
            # smtplib reports a read timeout as a disconnect; the timeout is the useful part.
            if isinstance(error.__context__, TimeoutError):
                raise DeliveryError(self._timed_out()) from None
            raise DeliveryError(f"SMTP {self.where}: the server closed the connection") from None
        except smtplib.SMTPException as error:
            raise DeliveryError(f"SMTP {self.where}: {error}") from None
        except ssl.SSLError as error:
            raise DeliveryError(
                f"SMTP {self.where}: TLS failed ({error.reason or error}); check [email] security and port"
            ) from None
        except TimeoutError:
            raise DeliveryError(self._timed_out()) from None
        except ConnectionRefusedError:
            raise DeliveryError(f"SMTP {self.where}: connection refused") from None
        except socket.gaierror as error:
            raise DeliveryError(
                f"SMTP {self.where}: cannot resolve host ({error.strerror})"
            ) from None
        except OSError as error:
            raise DeliveryError(
                f"SMTP {self.where}: {error.strerror or type(error).__name__}"
            ) from None

    def _connect(self) -> smtplib.SMTP:
        timeout = self.settings.timeout.total_seconds()
        host, port = self.settings.host, self.settings.port
        if self.settings.security == "ssl":
            return smtplib.SMTP_SSL(
                host, port, timeout=timeout, context=ssl.create_default_context()
            )
        smtp = smtplib.SMTP(host, port, timeout=timeout)
        if self.settings.security == "starttls":
            try:
                smtp.starttls(context=ssl.create_default_context())
            except BaseException:
                smtp.close()
                raise
        return smtp

    def _log_in(self, smtp: smtplib.SMTP) -> None:
        if not self.settings.username:
            return
        password = self.settings.password()
        if password is None:
            missing = (
                f"the environment variable {self.settings.password_env} is not set"
                if self.settings.password_env
                else "[email] password_env names no environment variable"
            )
            raise DeliveryError(f"SMTP {self.where}: [email] username is set but {missing}")
        smtp.login(self.settings.username, password)

    def _timed_out(self) -> str:
        return f"SMTP {self.where}: timed out after {self.settings.timeout.total_seconds():g}s"

    @staticmethod
    def _reply(code: int, message: bytes | str) -> str:
        text = message.decode("utf-8", "replace") if isinstance(message, bytes) else message
        return f"{code} {clean_header(text)}"

    @classmethod
    def _refusals(cls, refused: dict[str, tuple[int, bytes]]) -> str:
        return "; ".join(
            f"{address}: {cls._reply(code, reply)}" for address, (code, reply) in refused.items()
        )


class Sender(Protocol):
    """Anything that can deliver a rendered message: SMTP, or a folder for the demo."""

    def send(
        self,
        to: Sequence[str],
        subject: str,
        text: str,
        html: str | None,
        message_id: str,
        *,
        date: datetime | None = None,
        images: Sequence[InlineImage] = (),
        references: Sequence[str] = (),
    ) -> None: ...


class FolderMailer:
    """Writes each message as .txt and .html files instead of sending it (``harken demo``)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.written: list[Path] = []

    def send(
        self,
        to: Sequence[str],
        subject: str,
        text: str,
        html: str | None,
        message_id: str,
        *,
        date: datetime | None = None,
        images: Sequence[InlineImage] = (),
        references: Sequence[str] = (),
    ) -> None:
        stem = re.sub(r"[^A-Za-z0-9._-]+", "-", message_id.strip("<>").split("@", 1)[0])
        header = f"To: {', '.join(to)}\nSubject: {clean_header(subject)}\n\n"
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            (self.folder / f"{stem}.txt").write_text(header + text, encoding="utf-8")
            self.written.append(self.folder / f"{stem}.txt")
            if html is not None:
                (self.folder / f"{stem}.html").write_text(
                    with_data_uris(html, images), encoding="utf-8"
                )
                self.written.append(self.folder / f"{stem}.html")
        except OSError as error:
            raise DeliveryError(f"cannot write {stem} to {self.folder}: {error.strerror}") from None
