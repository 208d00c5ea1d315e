"""The rule reload job: pick up edited rule files without a restart."""

from __future__ import annotations

import logging

from monitor.daemon.deliver import deliver_alerts
from monitor.daemon.wiring import App, build_triage, load_config_rules, rules_version
from monitor.duration import plural
from monitor.errors import HarkenError

log = logging.getLogger("harken")


def reload_rules(app: App) -> bool:
    """Load edited rules; True when new ones were loaded.

    A broken edit keeps the last good rules running and tells the admins, once per edit.
    """
    version = rules_version(app.config)
    if version in (app.rules_version, app.broken_rules_version):
        return False
    try:
        triage = build_triage(app.config, load_config_rules(app.config))
    except HarkenError as error:
        app.broken_rules_version = version
        log.error("rules: the edit is broken; the last good rules keep running:\n%s", error)
        _tell_admins(app, "\n".join(str(error).splitlines()[:10]))
        return False
    app.triage = triage
    app.rules_version = version
    app.broken_rules_version = None
    log.info(
        "rules: reloaded %s from %s",
        plural(len(triage.rules.rules), "rule"),
        plural(len(triage.rules.files), "file"),
    )
    return True


def _tell_admins(app: App, problems: str) -> None:
    try:
        app.storage.enqueue_source_alert(
            "rules",
            app.now(),
            f"broken edit: the last good rules keep running until this is fixed:\n{problems}",
            app.health_policy.notify,
        )
        deliver_alerts(app)
    except HarkenError as storage_error:
        log.error("rules: could not alert the admins: %s", storage_error)
