"""The digest's volume chart as a PNG, drawn here in pure Python: nothing is fetched from the web.

Bars stack negative (bottom), neutral and positive mentions per time bucket; a dashed line marks
the average bucket. The background is transparent and the colours are mid-tones, so the chart
reads on a light page and on a mail client's dark one alike. Labels live in the HTML around it.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence

from monitor.digest.build import Digest
from monitor.digest.timeline import Bucket

Colour = tuple[int, int, int, int]  # RGBA
NEGATIVE: Colour = (207, 34, 46, 255)
NEUTRAL: Colour = (140, 149, 159, 255)
POSITIVE: Colour = (45, 164, 78, 255)
AXIS: Colour = (140, 149, 159, 200)
AVERAGE: Colour = (191, 135, 0, 255)
CLEAR: Colour = (0, 0, 0, 0)

WIDTH, HEIGHT = 600, 140  # CSS pixels, as the email shows it
SCALE = 2  # drawn at twice the size, so it stays sharp on high-density screens


def volume_chart(digest: Digest) -> bytes:
    """The digest's timeline as stacked bars; a PNG of WIDTH x HEIGHT at SCALE."""
    return stacked_bars(digest.timeline, width=WIDTH * SCALE, height=HEIGHT * SCALE)


def stacked_bars(buckets: Sequence[Bucket], *, width: int, height: int) -> bytes:
    """Draw ``buckets`` left to right, each as wide as its share of the time they span."""
    if not buckets:
        return png(width, height, [_pixels(CLEAR) * width] * height)
    first, last = buckets[0].start, buckets[-1].end
    length = (last - first).total_seconds() or 1.0
    axis = max(2, height // 70)  # the baseline's thickness
    room = height - axis - 4 * SCALE  # bar pixels above the baseline; headroom at the top
    peak = max(bucket.total for bucket in buckets) or 1
    total = sum(bucket.total for bucket in buckets)
    # Each bar: its pixels [x0, x1) and the tops of its negative, neutral and positive parts.
    columns: list[tuple[int, int, int, int, int]] = []
    gap = SCALE if width / len(buckets) >= 6 * SCALE else 0
    for bucket in buckets:
        x0 = round((bucket.start - first).total_seconds() / length * width)
        x1 = round((bucket.end - first).total_seconds() / length * width)
        x1 = max(x0 + 1, x1 - gap)
        negative = round(bucket.negative / peak * room)
        neutral = round((bucket.negative + bucket.neutral) / peak * room)
        columns.append((x0, x1, negative, neutral, round(bucket.total / peak * room)))
    # The average bucket of equal length, as a dashed line at its height.
    full = buckets[0].end - buckets[0].start
    average = total * (full.total_seconds() / length)
    guide = height - axis - 1 - round(average / peak * room) if total else None

    clear = _pixels(CLEAR)
    colours = (_pixels(NEGATIVE), _pixels(NEUTRAL), _pixels(POSITIVE))
    dash = (_pixels(AVERAGE) * (6 * SCALE) + clear * (4 * SCALE)) * (width // (10 * SCALE) + 1)
    rows = []
    for y in range(height):
        if y >= height - axis:
            rows.append(_pixels(AXIS) * width)
            continue
        level = height - axis - y  # 1 at the row just above the baseline
        row = bytearray(clear * width)
        for x0, x1, negative, neutral, positive in columns:
            if level > positive:
                continue
            colour = (
                colours[0] if level <= negative else colours[1] if level <= neutral else colours[2]
            )
            row[x0 * 4 : x1 * 4] = colour * (x1 - x0)
        if guide is not None and guide - SCALE // 2 <= y < guide - SCALE // 2 + SCALE:
            # The dashed line is drawn over the bars, so it shows where they cross it.
            for x in range(0, width, 10 * SCALE):
                span = min(6 * SCALE, width - x)
                row[x * 4 : (x + span) * 4] = dash[: span * 4]
        rows.append(bytes(row))
    return png(width, height, rows)


def _pixels(colour: Colour) -> bytes:
    return bytes(colour)


def png(width: int, height: int, rows: Sequence[bytes]) -> bytes:
    """An 8-bit RGBA PNG from ``height`` rows of ``width * 4`` bytes each."""
    if len(rows) != height or any(len(row) != width * 4 for row in rows):
        raise ValueError("every row must hold width RGBA pixels")
    raw = b"".join(b"\x00" + row for row in rows)  # filter type 0 (none) on every row
    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)  # 8-bit RGBA, no interlace
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(raw, 9))
        + _chunk(b"IEND", b"")
    )


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
