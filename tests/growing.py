"""Feeds that keep gaining items while a daemon is killed and restarted (the crash tests)."""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler

from tests.harness import rss_feed
from tests.servers import Handler, HttpServer, Reply

FEEDS = ("alpha", "beta", "gamma")
COMPLAINT = "Acme support is useless, still waiting for my refund. Awful! Order {number}"
PRAISE = "Acme Cloud is great, thanks team, order {number} arrived"


@dataclass
class GrowingFeeds:
    """Feeds that gain items while the test runs, and remember which items they ever served.

    Each feed shows all its items: one that fell out of a window before a poll got through
    would be served but rightly never stored. ``max_items`` caps the work, so a slow machine
    does not also get more of it; ``urgent_share`` of the items are complaints the shipped
    rules make urgent.
    """

    max_items: int
    urgent_share: float = 0.0
    items: dict[str, list[tuple[str, str, str]]] = field(
        default_factory=lambda: {feed: [] for feed in FEEDS}
    )
    urgent: set[str] = field(default_factory=set)
    served: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, rng: random.Random) -> None:
        feed = rng.choice(FEEDS)
        with self.lock:
            number = sum(len(items) for items in self.items.values()) + 1
            if number > self.max_items:
                return
            guid = f"{feed}-{number}"
            text = PRAISE
            if self.urgent_share and rng.random() < self.urgent_share:
                text = COMPLAINT
                self.urgent.add(guid)
            self.items[feed].append((guid, f"Post {number}", text.format(number=number)))

    def all(self) -> set[str]:
        with self.lock:
            return {guid for items in self.items.values() for guid, _, _ in items}

    def serve_on(self, http_server: HttpServer) -> None:
        """Route ``/<feed>.xml`` on ``http_server`` to each feed."""
        for feed in FEEDS:
            http_server.routes[f"/{feed}.xml"] = self._handler(feed)

    def _handler(self, feed: str) -> Handler:
        def reply(_request: BaseHTTPRequestHandler) -> Reply:
            with self.lock:
                shown = list(self.items[feed])
                self.served.update(guid for guid, _, _ in shown)
            return Reply(rss_feed(*shown), headers={"Content-Type": "application/rss+xml"})

        return reply
