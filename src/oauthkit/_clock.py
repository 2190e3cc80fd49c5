"""Time, injected. The protocol core reads the time only through a :class:`Clock`.

The flows and credentials receive a clock so that tests can move time by hand
(expiry, backoff, polling) instead of sleeping.
"""

from __future__ import annotations

import datetime
import time

# typing loads only under a type checker: `import oauthkit` stays fast (no typing, re...)
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Protocol
else:
    Protocol = object

__all__ = ["SYSTEM_CLOCK", "Clock", "FakeClock", "SystemClock", "utc"]


def utc(value: datetime.datetime) -> datetime.datetime:
    """``value`` as timezone-aware UTC; a naive value is read as UTC (the classic format)."""
    if value.tzinfo is None:
        return value.replace(tzinfo=datetime.timezone.utc)
    return value.astimezone(datetime.timezone.utc)


class Clock(Protocol):
    def now(self) -> datetime.datetime:
        """The current time, timezone-aware UTC."""

    def sleep(self, seconds: float) -> None:
        """Block the calling thread for ``seconds``."""


class SystemClock:
    """The real clock."""

    def now(self) -> datetime.datetime:
        return datetime.datetime.now(datetime.timezone.utc)

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)

    def __repr__(self) -> str:
        return "SystemClock()"


SYSTEM_CLOCK = SystemClock()


class FakeClock:
    """A clock that moves only when told to: ``sleep`` advances it instantly.

    ``slept`` records every sleep, so tests can assert backoff and polling intervals.
    """

    def __init__(self, start: datetime.datetime | None = None) -> None:
        self._now = (
            utc(start) if start else datetime.datetime(2030, 1, 1, tzinfo=datetime.timezone.utc)
        )
        self.slept: list[float] = []

    def now(self) -> datetime.datetime:
        return self._now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.advance(seconds)

    def advance(self, seconds: float) -> None:
        self._now += datetime.timedelta(seconds=seconds)
