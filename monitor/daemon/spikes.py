"""The spike job: one alert per rule whose mentions pile up beyond their usual level."""

from __future__ import annotations

import logging
from datetime import datetime

from monitor.daemon.deliver import deliver_alerts
from monitor.daemon.wiring import App
from monitor.errors import HarkenError
from monitor.storage import RuleFiring
from monitor.triage.rules.model import Rule
from monitor.triage.spikes import FiredMention, detect

log = logging.getLogger("harken")


def check_spikes(app: App) -> int:
    """Open an alert for each rule newly spiking; returns how many.

    The alert stays open (no repeat) until the pile-on subsides below the spike level.
    """
    watched = [rule for rule in app.triage.rules.rules if rule.spike is not None]
    if not watched:
        return 0
    now = app.now()
    opened = 0
    try:
        longest = max(rule.spike.window + rule.spike.baseline for rule in watched if rule.spike)
        fired = app.storage.rule_firings(now - longest, now)
        open_alerts = {health.source for health in app.storage.source_health() if health.alerted}
        for rule in watched:
            opened += _check_rule(app, rule, fired, open_alerts, now)
    except HarkenError as error:
        log.error("spikes: could not check: %s", error)
        return opened
    if opened:
        deliver_alerts(app)
    return opened


def _check_rule(
    app: App, rule: Rule, fired: list[RuleFiring], open_alerts: set[str], now: datetime
) -> int:
    """Open or close ``rule``'s spike alert; 1 if one was opened."""
    assert rule.spike is not None
    sightings = [
        FiredMention(entry.stored_at, entry.negative, entry.title, entry.url)
        for entry in fired
        if rule.name in entry.rules
    ]
    spike = detect(rule.spike, sightings, now)
    key = f"spike:{rule.name}"
    if spike is None:
        if key in open_alerts:
            app.storage.set_source_alerted(key, False)
        return 0
    if key in open_alerts:
        return 0
    description = spike.describe(rule.name, rule.spike)
    groups = rule.notify or app.config.settings.alerts.notify
    app.storage.enqueue_source_alert(key, now, description, groups)
    app.storage.set_source_alerted(key, True)
    log.warning("rule %s: %s", rule.name, description.splitlines()[0])
    return 1
