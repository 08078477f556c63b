"""What the builtin proxy does about writes besides routing them: the write hold at the
switch of the system of record, and read-your-writes during stages.

``WriteGate``: while a hold is in force, writes wait inside the proxy (reads go on);
writes already sent are counted until answered, so the controller knows when the old
system of record has drained. On release the held writes go on in arrival order, each
citizen's one after another (a citizen's second write is sent once the first was
answered). When the hold runs out before a release, they go on to the system of record
of the live setting, which is then still the old one; a proxy that has lost the engine
database by then answers them 503 instead, since it cannot know which side is the
system of record.

``RecentWriters``: the citizens (by a hash of their sticky key) whose last write is
newer than what the other side has applied (``applied_up_to``): their reads go to the
system of record until the mark passes the write.

Both live on the proxy's event loop only, so they need no lock.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field


class HoldState:
    """A proxy's part in the newest hold, as it reports it."""

    NONE = "none"
    HOLDING = "holding"
    RELEASED = "released"
    EXPIRED = "expired"  # ran out; held writes went to the live system of record
    FENCED = "fenced"  # ran out with the engine database unreachable; held writes got 503


@dataclass
class Turn:
    """One write's place in its citizen's line; ``done`` is set once it was answered."""

    key: str | None
    done: asyncio.Event = field(default_factory=asyncio.Event)


class WriteGate:
    """Holds writes during a hold, keeps each citizen's writes in order, counts writes in
    flight.

    Args:
        changed: called (on the event loop) when the hold is taken or ends, and when the
            writes in flight drain to none while holding: the proxy reports then.
    """

    def __init__(self, changed: Callable[[], None] = lambda: None) -> None:
        self.hold_id = 0
        self.state = HoldState.NONE
        self.held = 0  # writes held under hold_id
        self.in_flight = 0  # writes sent and not yet answered
        self.taken_at: float | None = None  # monotonic
        self.held_s: float | None = None  # how long the last hold lasted
        self._changed = changed
        self._gate: asyncio.Event | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._lines: dict[str | None, Turn] = {}

    @property
    def busy(self) -> bool:
        """Whether a write must go through ``enter`` (holding, or held writes still
        being sent): false on the fast path."""
        return self._gate is not None or bool(self._lines)

    def take(self, hold_id: int, seconds: float, *, fenced: Callable[[], bool]) -> None:
        """Hold writes from now for at most ``seconds``.

        Args:
            fenced: asked when the hold runs out: whether the proxy has lost the engine
                database (held writes then get 503, not the live system of record).
        """
        self.hold_id, self.state, self.held = hold_id, HoldState.HOLDING, 0
        self.taken_at, self.held_s = time.monotonic(), None
        self._gate = asyncio.Event()
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(max(seconds, 0.0), self._run_out, hold_id, fenced)
        self._changed()

    def skip(self, hold_id: int, state: str) -> None:
        """Note a hold this proxy did not take (over, or already run out, when seen)."""
        self.hold_id, self.state = hold_id, state

    def release(self) -> None:
        """Let the held writes go on, to the system of record of the live setting."""
        self._end(HoldState.RELEASED)

    def _run_out(self, hold_id: int, fenced: Callable[[], bool]) -> None:
        if self.hold_id == hold_id and self.state == HoldState.HOLDING:
            self._end(HoldState.FENCED if fenced() else HoldState.EXPIRED)

    def _end(self, state: str) -> None:
        if self.state != HoldState.HOLDING:
            return
        self.state = state
        if self.taken_at is not None:
            self.held_s = time.monotonic() - self.taken_at
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        gate, self._gate = self._gate, None
        if gate is not None:
            gate.set()  # waiters wake in the order they came
        self._changed()

    async def enter(self, key: str | None) -> Turn | None:
        """Wait until this write may be sent: past the hold, and past the citizen's
        earlier writes. None: the hold ran out fenced; answer 503.

        Call ``leave`` with the turn once the write was answered (or failed).
        """
        previous = self._lines.get(key)
        turn = self._lines[key] = Turn(key)
        gate = self._gate
        if gate is not None:
            self.held += 1
            await gate.wait()
            if self.state == HoldState.FENCED:
                self.leave(turn)
                return None
        if previous is not None:
            await previous.done.wait()
        return turn

    def leave(self, turn: Turn) -> None:
        turn.done.set()
        if self._lines.get(turn.key) is turn:
            del self._lines[turn.key]

    def sent(self) -> None:
        """A write was sent to the system of record."""
        self.in_flight += 1

    def answered(self) -> None:
        """A write sent has been answered, or failed."""
        self.in_flight -= 1
        if self.in_flight == 0 and self.state == HoldState.HOLDING:
            self._changed()  # drained: tell the controller now, not at the next poll


class RecentWriters:
    """Citizens whose last write the side that is not the system of record may not have
    applied yet, by a salted hash of their sticky key (no key is kept or stored)."""

    def __init__(self, system_id: str) -> None:
        self._salt = f"switchover:{system_id}:".encode()
        self._at: dict[str, float] = {}  # key hash -> when the write was answered (epoch s)
        self._unshared: list[tuple[str, dt.datetime]] = []
        self.mark: float | None = None  # applied_up_to, epoch seconds
        self.shared_after = 0  # the last shared row taken from other proxies

    def key_hash(self, value: str) -> str:
        return hashlib.sha256(self._salt + value.encode("utf-8")).hexdigest()[:32]

    def __len__(self) -> int:
        return len(self._at)

    def wrote(self, value: str, *, share: bool = True) -> None:
        """A citizen's write was answered by the system of record just now (or, with
        ``share=False``, is being sent: their reads go to the system of record already)."""
        now = dt.datetime.now(dt.UTC)
        key_hash = self.key_hash(value)
        self._at[key_hash] = now.timestamp()
        if share:
            self._unshared.append((key_hash, now))

    def read_from_record(self, value: str) -> bool:
        """Whether the citizen's read must go to the system of record: their last write
        is newer than the mark."""
        key_hash = self.key_hash(value)
        at = self._at.get(key_hash)
        if at is None:
            return False
        if self.mark is not None and at <= self.mark:
            del self._at[key_hash]
            return False
        return True

    def set_mark(self, mark: dt.datetime | None) -> None:
        """Take the newest applied-up-to mark, and forget the writes it has passed."""
        self.mark = mark.timestamp() if mark is not None else None
        if self.mark is not None and self._at:
            self._at = {k: at for k, at in self._at.items() if at > self.mark}

    def learn(self, shared: list[tuple[int, str, dt.datetime]]) -> None:
        """Take recent writes other proxies shared."""
        for row_id, key_hash, written_at in shared:
            at = written_at.timestamp()
            if at > self._at.get(key_hash, 0.0) and (self.mark is None or at > self.mark):
                self._at[key_hash] = at
            self.shared_after = max(self.shared_after, row_id)

    def take_unshared(self) -> list[tuple[str, dt.datetime]]:
        taken, self._unshared = self._unshared, []
        return taken

    def put_back(self, writes: list[tuple[str, dt.datetime]]) -> None:
        self._unshared[:0] = writes

    def clear(self) -> None:
        """Forget everything: the system of record changed, the writes spoke of the other
        side."""
        self._at.clear()
        self._unshared.clear()
        self.mark = None
