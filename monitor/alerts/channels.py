"""Chat and paging channels through Apprise: Slack, Teams, Telegram, ntfy, PagerDuty, webhooks….

A channel is an Apprise URL in ``[channels.NAME]``; each ``{VAR}`` in it is filled from the
environment at send time, so secrets live in the environment and never in config.toml or logs.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Protocol

import apprise

from monitor.config.settings import Config
from monitor.errors import DeliveryError
from monitor.placeholders import fill, unset_variables

log = logging.getLogger(__name__)

# Apprise logs the URLs it posts to, and urllib3 their paths: both may carry a secret.
_CHATTY_LOGGERS = ("apprise", "urllib3.connectionpool")
_REDACTED = "[secret]"


class Channels(Protocol):
    """Anything that can post one alert to a named channel."""

    def notify(self, name: str, url: str, title: str, body: str) -> None: ...


def channels_for(config: Config, groups: Sequence[str]) -> list[tuple[str, str]]:
    """The (name, url template) of every channel that carries alerts to any of ``groups``."""
    wanted = set(groups)
    return [
        (name, channel.url)
        for name, channel in config.settings.channels.items()
        if wanted.intersection(channel.notify)
    ]


def fill_url(name: str, template: str, environ: Mapping[str, str]) -> tuple[str, list[str]]:
    """The channel's URL with every ``{VAR}`` filled in, and the values filled in (secrets)."""
    missing = unset_variables(template, environ)
    if missing:
        raise DeliveryError(
            f"channel {name}: the environment variable {', '.join(missing)} is not set; [channels.{name}] url needs it"
        )
    return fill(template, environ)


class _Redact(logging.Filter):
    def __init__(self, secrets: Sequence[str]) -> None:
        super().__init__()
        self.secrets = [secret for secret in secrets if secret]

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if any(secret in message for secret in self.secrets):
            for secret in self.secrets:
                message = message.replace(secret, _REDACTED)
            record.msg, record.args = message, ()
        return True


@contextmanager
def _redacted(secrets: Sequence[str]) -> Iterator[None]:
    """Keep ``secrets`` out of what Apprise and urllib3 log while a channel is sent to."""
    redact = _Redact(secrets)
    loggers = [logging.getLogger(name) for name in _CHATTY_LOGGERS]
    for logger in loggers:
        logger.addFilter(redact)
    try:
        yield
    finally:
        for logger in loggers:
            logger.removeFilter(redact)


class AppriseChannels:
    """Posts alerts through Apprise, filling each URL's ``{VAR}`` from ``environ``."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self.environ = os.environ if environ is None else environ

    def notify(self, name: str, url: str, title: str, body: str) -> None:
        """Post one alert; raise DeliveryError naming the channel (never its secrets)."""
        filled, secrets = fill_url(name, url, self.environ)
        with _redacted(secrets):
            service = apprise.Apprise()
            with warnings.catch_warnings():
                # Apprise's first add() loads its plugins; one still imports the deprecated
                # imghdr on Python < 3.13, which is noise to whoever runs Harken.
                warnings.filterwarnings("ignore", "'imghdr' is deprecated", DeprecationWarning)
                understood = service.add(filled)
            if not understood:
                raise DeliveryError(
                    f"channel {name}: Apprise does not understand its url; check [channels.{name}] url"
                )
            try:
                result = service.notify(
                    body=body, title=title, body_format=apprise.NotifyFormat.TEXT
                )
            except Exception as error:  # a plugin's bug must not stop the outbox
                raise DeliveryError(
                    f"channel {name}: Apprise failed ({type(error).__name__})"
                ) from None
        if not result:
            raise DeliveryError(
                f"channel {name}: the service did not accept the alert; check its credentials and that it is reachable"
            )
