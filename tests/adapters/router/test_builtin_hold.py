"""The write hold through the controller: real proxy processes (``run_proxy``) steered
through the engine database (SQLite and PostgreSQL) by ``BuiltinRouter``, in front of
two real services, under a steady stream of writes.

Proves: ``hold_writes`` returns once both proxies hold and have drained; from then no
write reaches legacy; every write sent during the hold is answered after
``release_writes`` began, by modern, and nothing is lost or doubled; a hold that runs
out sends its writes to legacy, and a release after it is refused until a new hold; a
citizen who wrote reads from legacy through either proxy until the applied-up-to mark
passes the write.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from adapters.router.builtin import BuiltinRouter
from domain.cutover import RouterSetting, Side
from tests.adapters.router import test_builtin
from tests.adapters.router.conftest import Services
from tests.adapters.router.test_builtin import SYSTEM, Proxy, register

start_proxy = test_builtin.start_proxy  # the fixture, shared


@dataclass
class Write:
    seq: int
    sent: float
    answered: float = 0.0
    status: int = 0
    side: str = ""


class WriteStream:
    """Writes at a steady rate through several proxies, from a thread of its own."""

    def __init__(self, urls: list[str], every_s: float = 0.02) -> None:
        self.urls = urls
        self.every_s = every_s
        self.writes: list[Write] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)

    async def _run(self) -> None:
        async with httpx.AsyncClient(trust_env=False, timeout=30) as client:

            async def one(write: Write) -> None:
                url = self.urls[write.seq % len(self.urls)]
                response = await client.post(
                    f"{url}/claims", content=json.dumps({"seq": write.seq}),
                    headers={"X-Citizen-Id": f"citizen-{write.seq % 7}"},
                )  # fmt: skip
                write.answered, write.status = time.monotonic(), response.status_code
                write.side = response.headers.get("x-served-by", "")

            tasks = []
            seq = 0
            while not self._stop.is_set():
                write = Write(seq, time.monotonic())
                self.writes.append(write)
                tasks.append(asyncio.ensure_future(one(write)))
                seq += 1
                await asyncio.sleep(self.every_s)
            await asyncio.gather(*tasks)

    def __enter__(self) -> WriteStream:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=60)


def _seqs(services: Services, side: str) -> list[tuple[float, int]]:
    return [(at, json.loads(body)["seq"]) for at, _, body in services.side(side).write_log]


def test_two_proxies_follow_one_hold(
    db_url: str, services: Services, start_proxy: Callable[..., Proxy]
) -> None:
    register(db_url)
    first, second = start_proxy(db_url), start_proxy(db_url)
    router = BuiltinRouter(first.plan, first.settings)
    router.apply(RouterSetting(modern_percent=50))
    with WriteStream([first.url, second.url]) as stream:
        time.sleep(1.0)
        hold = router.hold_writes()
        held_at = time.monotonic()
        assert hold.held
        assert hold.proxies == 2
        assert hold.waited_s < hold.hold_max_s / 2
        time.sleep(1.5)
        release_began = time.monotonic()
        released = router.release_writes(Side.MODERN, modern_percent=100)
        assert released.released
        assert released.proxies == 2
        assert released.setting is not None
        assert released.setting.system_of_record is Side.MODERN
        time.sleep(0.5)
    writes = stream.writes
    assert all(w.status == 201 for w in writes), [w.status for w in writes if w.status != 201]
    legacy, modern = _seqs(services, "legacy"), _seqs(services, "modern")
    assert sorted(seq for _, seq in legacy + modern) == [w.seq for w in writes]
    assert max(at for at, _ in legacy) <= held_at
    during = [w for w in writes if held_at <= w.sent < release_began]
    assert len(during) >= 30
    assert all(w.answered >= release_began and w.side == "modern" for w in during)
    assert released.held_writes >= len(during)
    assert router.current().system_of_record is Side.MODERN
    router.close()


def test_a_hold_that_runs_out_is_not_released(
    db_url: str, services: Services, start_proxy: Callable[..., Proxy]
) -> None:
    register(db_url)
    proxy = start_proxy(db_url, hold_max_s=3)
    router = BuiltinRouter(proxy.plan, proxy.settings)
    router.apply(RouterSetting(modern_percent=50))
    hold = router.hold_writes()
    started = time.monotonic()
    response = httpx.post(proxy.url + "/claims", json={}, trust_env=False, timeout=30)
    # Held until the hold ran out, then sent to the old system of record.
    assert response.status_code == 201
    assert response.headers["x-served-by"] == "legacy"
    assert time.monotonic() - started >= 1.5
    refused = router.release_writes(Side.MODERN, modern_percent=100)
    assert not refused.released
    assert "ran out" in (refused.detail or "")
    assert router.current().system_of_record is Side.LEGACY
    # The switch is tried again: a new hold, released in time.
    again = router.hold_writes()
    assert again.hold_id == hold.hold_id + 1
    assert router.release_writes(Side.MODERN, modern_percent=100).released
    response = httpx.post(proxy.url + "/claims", json={}, trust_env=False, timeout=30)
    assert response.headers["x-served-by"] == "modern"
    assert services.legacy.writes.total() == 1
    router.close()


def test_a_citizen_reads_their_write_through_either_proxy_until_modern_applied_it(
    db_url: str, services: Services, start_proxy: Callable[..., Proxy]
) -> None:
    from adapters.router.routing import bucket_of
    from db.cutover import set_applied_up_to
    from db.session import session_scope

    register(db_url)
    first, second = start_proxy(db_url), start_proxy(db_url)
    router = BuiltinRouter(first.plan, first.settings)
    router.apply(RouterSetting(modern_percent=50))
    citizen = next(f"c{i}" for i in range(1000) if bucket_of(f"c{i}") < 50)  # on modern
    headers = {"X-Citizen-Id": citizen}

    def side(proxy: Proxy) -> str:
        response = httpx.get(proxy.url + "/items/1", headers=headers, trust_env=False)
        return response.headers["x-served-by"]

    with session_scope(db_url) as session:  # the catch-up has published a first mark
        set_applied_up_to(session, SYSTEM, dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1))
    time.sleep(0.5)
    assert side(first) == side(second) == "modern"
    write = httpx.post(first.url + "/claims", json={}, headers=headers, trust_env=False)
    assert write.headers["x-served-by"] == "legacy"
    assert side(first) == "legacy"  # at once through the same proxy
    time.sleep(3 * 0.2 + 0.3)  # within two polls through the other (poll_s = 0.2)
    assert side(second) == "legacy"
    with session_scope(db_url) as session:
        set_applied_up_to(session, SYSTEM, dt.datetime.now(dt.UTC))
    time.sleep(0.6)
    assert side(first) == side(second) == "modern"
    router.close()
