"""``harken run`` killed with SIGKILL around its scheduled digest sends, over and over: each
period goes out under one Message-ID only, the periods follow each other without a gap, and
every stored mention is in a digest."""

from __future__ import annotations

import asyncio
import email
import email.policy
import os
import random
import re
import signal
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from functools import partial
from itertools import pairwise
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from monitor.storage import Storage
from tests.daemon import Daemon, query, wait_until
from tests.growing import FEEDS, GrowingFeeds
from tests.harness import Harness
from tests.servers import HttpServer, free_port

# Six digests on the same every-minute cron: six sends a minute to kill around.
DIGESTS = ("", "team-b", "team-c", "team-d", "team-e", "team-f")
KILLS = 22
MAX_ITEMS = 300
LINK = re.compile(r"https://news\.example/((?:alpha|beta|gamma)-\d+)")
MESSAGE_ID = re.compile(
    r"<harken-digest-(?:(?P<key>.+)-)?(?P<start>\d{8}T\d{6}Z)-(?P<end>\d{8}T\d{6}Z)@harken>"
)
STAMP = "%Y%m%dT%H%M%SZ"


@dataclass(frozen=True)
class Sent:
    """One digest email as the SMTP server took it."""

    key: str
    start: str  # the Message-ID's stamps: UTC, to the second
    end: str
    message_id: str
    mentions: frozenset[str]


class KillingSmtp:
    """An SMTP server's handler that, told of the daemon sending, SIGKILLs it around a digest
    send: before it takes the message, after it took it but before it says so, or just after."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.inbox: list[EmailMessage] = []
        self.victim: Daemon | None = None
        self.kills: Counter[str] = Counter()
        self._lock = threading.Lock()

    def kill(self, daemon: Daemon, moment: str) -> None:
        with self._lock:
            if self.victim is not daemon or daemon.process.poll() is not None:
                return  # already killed around another digest's send
            self.victim = None
            with suppress(ProcessLookupError):
                os.killpg(daemon.process.pid, signal.SIGKILL)
            self.kills[moment] += 1

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        message = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        victim = self.victim
        roll = self.rng.random() if victim is not None else 1.0
        if victim is not None and roll < 0.55:
            # A slow server: the daemon's polls store mentions meanwhile, so the periods of the
            # sends killed here are not all empty.
            await asyncio.sleep(self.rng.uniform(0.0, 3.0))
        if victim is not None and roll < 0.2:
            self.kill(victim, "before the server took it")
            return "451 Killed"  # nobody reads it
        self.inbox.append(message)
        if victim is not None and roll < 0.55:
            # The window of the defect: delivered, but the daemon never heard so.
            self.kill(victim, "after the server took it, before its reply")
        elif victim is not None and roll < 0.7:
            # After the reply: before or after the daemon records the send.
            delay = self.rng.uniform(0.0, 0.3)
            threading.Timer(delay, self.kill, (victim, "just after the reply")).start()
        return "250 OK"


@pytest.fixture
def killing_smtp() -> Iterator[tuple[KillingSmtp, int]]:
    seed = int(os.environ.get("HARKEN_CRASH_SEED") or random.randrange(2**32))
    print(f"seed {seed} (rerun with HARKEN_CRASH_SEED={seed})")  # pytest shows it on failure
    handler = KillingSmtp(random.Random(seed))
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield handler, int(controller.port)
    controller.stop()


def configure(harness: Harness, http_server: HttpServer, smtp_port: int) -> datetime:
    """Six every-minute digests, each last sent two minutes ago; returns that watermark."""
    more = "".join(f'\n[[digests]]\nname = "{key}"\nto = ["marketing"]\n' for key in DIGESTS[1:])
    harness.write_config(
        {feed: http_server.url(f"/{feed}.xml") for feed in FEEDS}, smtp_port, extra=more
    )
    text = harness.config.read_text()
    table = '[digest]\nto = ["marketing"]\n'
    # Every mention listed (top), so the test can find each one in a digest.
    every_minute = 'schedule = "* * * * *"\ntop = 1000\nsend_empty = true\n'
    harness.config.write_text(text.replace(table, table + every_minute))
    watermark = (datetime.now(UTC) - timedelta(minutes=2)).replace(microsecond=0)
    storage = Storage(f"sqlite:///{harness.database}")
    try:
        for key in DIGESTS:
            storage.record_digest(
                watermark - timedelta(hours=1), watermark, watermark, [], 0, digest=key
            )
    finally:
        storage.close()
    return watermark


def plain(message: EmailMessage) -> str:
    body = message.get_body(("plain",))
    assert body is not None
    return str(body.get_content())


def sent_digests(inbox: list[EmailMessage]) -> list[Sent]:
    found = []
    for message in inbox:
        matched = MESSAGE_ID.fullmatch(str(message["Message-ID"]))
        if matched is None:
            continue  # not a digest
        text = plain(message)
        found.append(
            Sent(
                matched["key"] or "",
                matched["start"],
                matched["end"],
                matched.group(0),
                frozenset(LINK.findall(text)),
            )
        )
    return found


def gone(daemon: Daemon) -> bool:
    return daemon.process.poll() is not None


def stored_guids(database: Path) -> set[str]:
    return {str(url).rsplit("/", 1)[1] for (url,) in query(database, "SELECT url FROM mentions")}


def all_reported(database: Path) -> bool:
    """Every digest's last recorded period ends after the last stored mention, and no send is
    under way."""
    if query(database, "SELECT count(*) FROM digest_sends") not in ([], [(0,)]):
        return False
    [(last_stored,)] = query(database, "SELECT max(stored_at) FROM mentions") or [(None,)]
    ends = {
        str(key): str(end)
        for key, end in query(
            database, "SELECT digest, max(period_end) FROM digests GROUP BY digest"
        )
    }
    return last_stored is not None and all(ends.get(key, "") > str(last_stored) for key in DIGESTS)


@pytest.mark.timeout(900)  # about three minutes alone: the digests are every minute
@pytest.mark.slow
def test_sigkill_around_digest_sends_repeats_a_period_only_under_its_own_message_id(
    tmp_path: Path, http_server: HttpServer, killing_smtp: tuple[KillingSmtp, int]
) -> None:
    smtp, smtp_port = killing_smtp
    feeds = GrowingFeeds(MAX_ITEMS)
    feeds.serve_on(http_server)
    harness = Harness(tmp_path)
    watermark = configure(harness, http_server, smtp_port)

    arriving = threading.Event()
    arriving.set()
    item_rng = random.Random(smtp.rng.random())

    def keep_adding() -> None:
        while arriving.is_set():
            feeds.add(item_rng)
            time.sleep(item_rng.uniform(0.2, 0.6))

    producer = threading.Thread(target=keep_adding, daemon=True)
    producer.start()
    deadline = time.monotonic() + 480
    cycle = 0
    try:
        while sum(smtp.kills.values()) < KILLS and time.monotonic() < deadline:
            daemon = Daemon(harness, tmp_path / f"run-{cycle}.log")
            smtp.victim = daemon
            try:
                # A kill comes with a digest send: at once when one is owed, else at the minute.
                wait_until(partial(gone, daemon), timeout=90, every=0.1)
            finally:
                smtp.victim = None
                daemon.close()
            cycle += 1
    finally:
        arriving.clear()
        producer.join()
    assert sum(smtp.kills.values()) >= KILLS, smtp.kills

    # The last run is left alone until every mention served is stored and in a digest.
    final = Daemon(harness, tmp_path / "final.log")
    try:
        final.wait_for_log("harken is running")
        reported = wait_until(
            lambda: (
                feeds.served == feeds.all()
                and feeds.served <= stored_guids(harness.database)
                and all_reported(harness.database)
            ),
            timeout=180,
            every=0.5,
        )
        assert final.stop() == 0, final.output()
    finally:
        final.close()
    assert reported, final.output()

    stored = stored_guids(harness.database)
    assert stored == feeds.all()
    sent = sent_digests(smtp.inbox)
    repeats = len(sent) - len({digest.message_id for digest in sent})
    twice: list[tuple[str, str]] = []  # (digest, start) sent under more than one Message-ID
    in_two: set[tuple[str, str]] = set()  # (digest, mention) in digests of two Message-IDs
    for key in DIGESTS:
        ids: dict[str, set[str]] = {}
        holders: dict[str, set[str]] = {}
        for digest in (digest for digest in sent if digest.key == key):
            ids.setdefault(digest.start, set()).add(digest.message_id)
            for guid in digest.mentions:
                holders.setdefault(guid, set()).add(digest.message_id)
        twice += [(key, start) for start, found in ids.items() if len(found) > 1]
        in_two |= {(key, guid) for guid, found in holders.items() if len(found) > 1}
    periods = len({(digest.key, digest.start) for digest in sent})
    print(
        f"{sum(smtp.kills.values())} kills ({dict(smtp.kills)}) in {cycle} runs;"
        f" {len(sent)} digests emailed, {repeats} repeated under the same Message-ID;"
        f" {len(twice)} of {periods} periods sent under two Message-IDs;"
        f" {len(in_two)} of {len(stored) * len(DIGESTS)} (mention, digest) pairs in two digests"
    )
    assert twice == []
    assert in_two == set()

    recorded = {
        str(key): int(str(count))
        for key, count in query(
            harness.database, "SELECT digest, count(*) FROM digests GROUP BY digest"
        )
    }
    for key in DIGESTS:
        periods_sent = sorted({(d.start, d.end) for d in sent if d.key == key})
        assert periods_sent, key
        # No gap, no overlap: each period starts where the one before it ended.
        assert periods_sent[0][0] == watermark.strftime(STAMP), (key, periods_sent)
        for (_, end), (start, _) in pairwise(periods_sent):
            assert start == end, (key, periods_sent)
        # Each recorded once, besides the one recorded beforehand.
        assert recorded[key] == len(periods_sent) + 1, key
        mentioned = set().union(*(d.mentions for d in sent if d.key == key))
        assert mentioned == stored, (key, sorted(stored - mentioned))
