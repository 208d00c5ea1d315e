"""How Harken reacts to a failing source: wait, back off, stop, and when to tell the admins."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from monitor.daemon.health import HealthPolicy, after_failure, failing_alert, silence_alert
from monitor.errors import AccessDenied, BadPayload, FetchError, RateLimited, SourceGone

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
EVERY = timedelta(minutes=5)
NO_JITTER = HealthPolicy(jitter=lambda: 0.5)  # spread factor exactly 1.0


def test_a_rate_limit_waits_exactly_as_long_as_the_platform_asks() -> None:
    attempt = after_failure(RateLimited("429", retry_after=37), 1, EVERY, NOW, NO_JITTER)
    assert attempt.retry_at == NOW + timedelta(seconds=37)
    assert attempt.disabled_reason is None


@pytest.mark.parametrize("error", [AccessDenied("401 bad token"), SourceGone("410 gone")])
def test_refused_credentials_and_gone_endpoints_stop_the_source(error: Exception) -> None:
    attempt = after_failure(error, 1, EVERY, NOW, NO_JITTER)  # type: ignore[arg-type]
    assert attempt.retry_at is None
    assert attempt.disabled_reason == str(error)


@pytest.mark.parametrize("error", [FetchError("timed out"), BadPayload("malformed JSON")])
def test_transient_failures_back_off_exponentially_up_to_the_cap(error: Exception) -> None:
    waits = [after_failure(error, n, EVERY, NOW, NO_JITTER).retry_at for n in range(1, 8)]  # type: ignore[arg-type]
    assert [wait - NOW for wait in waits if wait] == [
        timedelta(minutes=5),
        timedelta(minutes=10),
        timedelta(minutes=20),
        timedelta(minutes=40),
        timedelta(hours=1),
        timedelta(hours=1),
        timedelta(hours=1),
    ]


def test_jitter_spreads_retries_by_a_fifth_either_way() -> None:
    low = after_failure(FetchError("x"), 2, EVERY, NOW, HealthPolicy(jitter=lambda: 0.0)).retry_at
    high = after_failure(FetchError("x"), 2, EVERY, NOW, HealthPolicy(jitter=lambda: 1.0)).retry_at
    assert low == NOW + timedelta(minutes=8)
    assert high == NOW + timedelta(minutes=12)


def test_a_short_failure_wakes_nobody_but_a_long_one_does() -> None:
    policy = HealthPolicy(error_threshold=timedelta(minutes=30))
    assert failing_alert("hn", "timed out", NOW - timedelta(minutes=29), None, NOW, policy) is None
    message = failing_alert("hn", "timed out", NOW - timedelta(minutes=30), None, NOW, policy)
    assert message is not None
    assert message.startswith("stopped hearing: hn")


def test_a_disabled_source_alerts_at_once() -> None:
    message = failing_alert("x_acme", "401", NOW, "HTTP 401: check the token", NOW, HealthPolicy())
    assert message is not None
    assert "disabled" in message


def test_silence_alerts_only_past_the_configured_span() -> None:
    hour = timedelta(hours=1)
    assert silence_alert("hn", NOW - hour, None, NOW) is None
    assert silence_alert("hn", NOW - hour, 2 * hour, NOW) is None
    assert silence_alert("hn", NOW - 3 * hour, 2 * hour, NOW) is not None
