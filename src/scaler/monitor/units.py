"""Short human forms of the numbers a monitor shows: sizes, counts, percentages and durations."""

from __future__ import annotations

_SIZE_UNITS = ("B", "K", "M", "G", "T", "P")


def size(n: float) -> str:
    """Bytes in powers of 1024, three significant digits: ``"512B"``, ``"85.3M"``, ``"1.20G"``; ``"-"`` if < 0."""
    if n < 0:
        return "-"
    value = float(n)
    for unit in _SIZE_UNITS:
        if value < 1024 or unit == _SIZE_UNITS[-1]:
            if unit == "B":
                return f"{int(value)}B"
            decimals = 2 if value < 10 else 1 if value < 100 else 0
            return f"{value:.{decimals}f}{unit}"
        value /= 1024
    raise AssertionError("unreachable")


def count(n: int) -> str:
    """Counts with thousands separators up to a million, then compact: ``"12,345"``, ``"1.23M"``."""
    if abs(n) < 1_000_000:
        return f"{n:,}"
    if abs(n) < 1_000_000_000:
        return f"{n / 1e6:.3g}M"
    return f"{n / 1e9:.3g}G"


def percent(p: float) -> str:
    return f"{p:.1f}%" if p < 100 else f"{p:.0f}%"


def duration(seconds: float) -> str:
    """``"850ms"``, ``"12.3s"``, ``"5m02s"``, ``"1h02m"``, ``"2d03h"``; ``"-"`` for a negative (unknown) value."""
    if seconds < 0:
        return "-"
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    if seconds < 60:
        return f"{seconds:.1f}s"
    whole = int(seconds)
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    if whole < 86400:
        return f"{whole // 3600}h{whole % 3600 // 60:02d}m"
    return f"{whole // 86400}d{whole % 86400 // 3600:02d}h"


def short_worker(worker_id: str) -> str:
    """A worker id without its ``Worker|`` prefix, which every worker id has."""
    return worker_id.removeprefix("Worker|")


def truncate(text: str, width: int) -> str:
    """``text`` cut to ``width`` characters, keeping its end (where ids differ) after ``..``.

    ASCII only: terminals under a C locale cannot show an ellipsis character.
    """
    if len(text) <= width:
        return text
    if width <= 2:
        return text[:width]
    return ".." + text[len(text) - width + 2 :]
