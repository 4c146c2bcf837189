"""Every timestamp in the corpus is ISO 8601 in UTC with milliseconds ("2024-05-01T09:30:00.000Z")
or null. The width is fixed so that comparing two timestamps as strings compares them as times."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta, tzinfo

# Anything outside these years is a corrupt value, not a message time.
_EARLIEST = datetime(1990, 1, 1, tzinfo=UTC)
_LATEST = datetime(2100, 1, 1, tzinfo=UTC)
APPLE_EPOCH = datetime(2001, 1, 1, tzinfo=UTC)


def iso_utc(moment: datetime) -> str | None:
    """An aware datetime as ISO 8601 UTC with milliseconds and a Z; None when out of range."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime: give it a zone first")
    try:
        moment = moment.astimezone(UTC)
    except (OverflowError, ValueError):  # year 1 or 9999 with an offset
        return None
    if not _EARLIEST <= moment < _LATEST:
        return None
    return moment.replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"


def from_unix(seconds: float | int | str | None) -> str | None:
    """Unix seconds (float, int or a numeric string, as Telegram writes them)."""
    if seconds is None or isinstance(seconds, bool):
        return None
    try:
        value = float(seconds)
    except (TypeError, ValueError):
        return None
    if not math.isfinite(value) or not 0 <= value < 4.2e9:  # 1970 to 2100
        return None
    return iso_utc(datetime.fromtimestamp(value, UTC))


def from_unix_ms(millis: float | int | None) -> str | None:
    if millis is None or isinstance(millis, bool) or not isinstance(millis, int | float):
        return None
    return from_unix(millis / 1000)


def from_apple(value: int | float | None) -> str | None:
    """Apple Core Data time: nanoseconds since 2001 (High Sierra on) or seconds (older databases)."""
    if value is None or isinstance(value, bool) or not isinstance(value, int | float) or value == 0:
        return None
    seconds = value / 1e9 if abs(value) > 1e12 else float(value)
    try:
        return iso_utc(APPLE_EPOCH + timedelta(seconds=seconds))
    except OverflowError:
        return None


def from_iso(text: str | None, assume: tzinfo | None = None) -> str | None:
    """ISO 8601 with an offset or Z; a naive value is read as wall-clock time in `assume`."""
    if not isinstance(text, str) or not text.strip():
        return None
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    if moment.tzinfo is None:
        if assume is None:
            return None
        moment = moment.replace(tzinfo=assume)
    return iso_utc(moment)


def from_local_iso(text: str | None, zone: tzinfo) -> tuple[str | None, bool]:
    """ISO 8601 that may lack an offset (exporters writing local time): (UTC time, whether `zone`
    had to be assumed)."""
    if not isinstance(text, str):
        return None, False
    try:
        naive = datetime.fromisoformat(text.strip()).tzinfo is None
    except ValueError:
        return None, False
    return from_iso(text, zone), naive


def from_wallclock(moment: datetime, zone: tzinfo) -> str | None:
    """A naive local time from an export that stores no zone (WhatsApp, Signal, Telegram's `date`)."""
    return iso_utc(moment.replace(tzinfo=zone))


def parse_iso_utc(value: str) -> datetime:
    """The inverse of `iso_utc`, for code that reads the corpus."""
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


class WallClock:
    """UTC for a file's wall-clock times, in file order. In the hour that repeats when clocks go
    back, a time earlier than the one before it is the second pass through that hour (fold=1),
    so messages do not run backwards."""

    def __init__(self, zone: tzinfo) -> None:
        self.zone = zone
        self.last: datetime | None = None
        self.folded = False

    def utc(self, when: datetime) -> str | None:
        if self.last is not None and (self.folded or when < self.last):
            aware = when.replace(tzinfo=self.zone)
            self.folded = aware.utcoffset() != aware.replace(fold=1).utcoffset()
        self.last = when
        return from_wallclock(when.replace(fold=1) if self.folded else when, self.zone)

    def utc_of_iso(self, text: str) -> str | None:
        """ISO local time without an offset, as some exporters write it (an offset, should one
        appear, is used as it is)."""
        try:
            moment = datetime.fromisoformat(text.strip())
        except ValueError:
            return None
        return self.utc(moment) if moment.tzinfo is None else from_iso(text)
