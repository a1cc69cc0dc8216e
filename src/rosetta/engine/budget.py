"""The service's memory budget: decoded pixels in flight, bounded, and freed memory handed back to the system.

A 20 KB PNG can decode to 80 megapixels (240 MB in RGB): a request count alone bounds nothing. Each request
takes the pixels its image will hold from a :class:`PixelBudget` before decoding, waits its turn when the
budget is spent (then gives up: the service answers 503 with Retry-After), shrinks its share once the image is
reduced, and gives it back when answered. When the budget empties after large images, :func:`release_free_memory`
asks glibc to return the freed heap to the system, so that RSS comes back near its idle level after a burst.

>>> import asyncio
>>> async def demo():
...     b = PixelBudget(100)
...     first = await b.acquire(80, wait_s=0)
...     second = await b.acquire(30, wait_s=0)  # 80 + 30 > 100: refused
...     b.release(80)
...     return first, second, await b.acquire(30, wait_s=0), b.in_use
>>> asyncio.run(demo())
(True, False, True, 30)
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import logging
from collections import deque
from typing import Callable

log = logging.getLogger(__name__)


class PixelBudget:
    """At most ``capacity`` pixels held at once; waiters are served in arrival order (a large image is not
    starved by a stream of small ones, and a new request never jumps past one already waiting).

    A request larger than the whole budget is granted the whole budget (it waits until it is alone).
    ``on_idle`` runs (on the event loop) each time the budget empties after at least ``large`` pixels were
    released since it last ran: the moment to hand freed memory back to the system.
    """

    def __init__(self, capacity: int, large: int = 0, on_idle: Callable[[], None] | None = None):
        self.capacity, self.large, self.on_idle = max(1, int(capacity)), large, on_idle
        self.in_use = 0
        self._waiters: deque[tuple[int, asyncio.Future]] = deque()
        self._released = 0

    @property
    def waiting(self) -> int:
        return sum(1 for _, fut in self._waiters if not fut.done())

    def clip(self, pixels: int) -> int:
        return max(0, min(int(pixels), self.capacity))

    async def acquire(self, pixels: int, wait_s: float) -> bool:
        """Take ``pixels`` (clipped to the capacity), waiting up to ``wait_s`` seconds; False when none came."""
        pixels = self.clip(pixels)
        if not self._waiters and self.in_use + pixels <= self.capacity:
            self.in_use += pixels
            return True
        entry = (pixels, asyncio.get_running_loop().create_future())
        self._waiters.append(entry)
        granted = False
        try:
            granted = await asyncio.wait_for(entry[1], wait_s)  # granted by _grant, else cancelled on timeout
            return granted
        except asyncio.TimeoutError:
            return False
        finally:
            fut = entry[1]
            if not granted and fut.done() and not fut.cancelled():  # granted as its request went away
                self.in_use -= pixels
            if entry in self._waiters:
                self._waiters.remove(entry)
            self._grant()  # a waiter that gave up may have been the one holding up those behind it

    def release(self, pixels: int) -> None:
        """Give back ``pixels`` (as clipped when taken); grants the waiters that now fit, in order."""
        pixels = self.clip(pixels)
        self.in_use = max(0, self.in_use - pixels)
        self._released += pixels
        self._grant()
        if self.in_use == 0 and self.on_idle and self.large and self._released >= self.large:
            self._released = 0
            self.on_idle()

    def _grant(self) -> None:
        while self._waiters:
            pixels, fut = self._waiters[0]
            if fut.done():  # gave up (timed out or its request went away)
                self._waiters.popleft()
                continue
            if self.in_use + pixels > self.capacity:
                return
            self._waiters.popleft()
            self.in_use += pixels
            fut.set_result(True)


def _libc_malloc_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name or "libc.so.6")
        return libc.malloc_trim  # glibc only
    except (OSError, AttributeError):
        return None


_TRIM = _libc_malloc_trim()


def release_free_memory() -> bool:
    """Return the C heap's free pages to the system (glibc ``malloc_trim``); False where there is none.

    glibc keeps freed blocks in its per-thread arenas for reuse: after a burst of large images the process
    keeps gigabytes it no longer uses unless told to give them back.

    >>> isinstance(release_free_memory(), bool)
    True
    """
    if _TRIM is None:
        return False
    _TRIM(0)
    return True


def rss_bytes(pid: int | str = "self") -> int:
    """Resident set size of a process (Linux ``/proc``), in bytes; 0 where unknown.

    >>> rss_bytes() > 0
    True
    """
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


__all__ = ["PixelBudget", "release_free_memory", "rss_bytes"]
