"""The controller (``BuiltinRouter``) and two proxies meeting only in the store: the
controller on a ``MemoryRouterStore`` through ``ControllerStore``, the proxies on the
same store through ``RouterStore``, in front of two real services.

Proves: ``apply`` returns once a proxy acknowledged the version, and both serve it; the
figures the proxies stored come back through ``metrics``; ``hold_writes`` returns once
both proxies hold with nothing in flight, a write sent then waits, and
``release_writes`` sends it to the new system of record with the setting naming it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from contextlib import AsyncExitStack

import httpx
import yaml

from adapters.router.builtin import BuiltinRouter
from adapters.router.proxy import CutoverProxy
from adapters.router.store import MemoryRouterStore
from config.migration_plan import parse_plan
from config.settings import Settings
from domain.cutover import RouterSetting, Side
from tests.adapters.router.conftest import Services
from tests.adapters.router.test_builtin import plan_data
from tests.adapters.router.test_write_hold import _until


async def test_the_controller_steers_proxies_through_the_store_alone(
    services: Services,
) -> None:
    plan = parse_plan(yaml.safe_dump(plan_data(services, poll_s=0.05, flush_s=0.1)))
    assert plan.cutover is not None
    store = MemoryRouterStore(RouterSetting(version=1))
    router = BuiltinRouter(plan, Settings(), store=store)
    since = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    async with AsyncExitStack() as stack:
        clients = []
        for instance in ("p1", "p2"):
            proxy = CutoverProxy(plan.cutover, plan.system.id, store=store, instance=instance)
            await proxy.startup()
            stack.push_async_callback(proxy.shutdown)
            transport = httpx.ASGITransport(app=proxy)
            clients.append(
                await stack.enter_async_context(
                    httpx.AsyncClient(transport=transport, base_url="http://proxy", timeout=30)
                )
            )
        first, second = clients

        await asyncio.to_thread(router.apply, RouterSetting(modern_percent=100))
        version = router.current().version
        assert version == 2
        await _until(lambda: all(r.setting_version == 2 for r in store.reports.values()))
        for client in clients:
            response = await client.get("/items/1", headers={"X-Citizen-Id": "c1"})
            assert response.headers["x-switchover-side"] == "modern"
            assert response.headers["x-switchover-version"] == "2"
        metrics = await asyncio.to_thread(router.metrics, since, setting_version=2)
        while metrics.modern.requests < 2:
            await asyncio.sleep(0.05)
            metrics = await asyncio.to_thread(router.metrics, since, setting_version=2)
        assert (metrics.legacy.requests, metrics.modern.requests) == (0, 2)

        hold = await asyncio.to_thread(router.hold_writes)
        assert hold.held
        assert hold.proxies == 2
        write = asyncio.ensure_future(first.post("/claims", json={"c": 1}))
        await _until(lambda: store.reports["p1"].held_writes == 1)
        assert not write.done()
        assert services.legacy.writes.total() == services.modern.writes.total() == 0
        released = await asyncio.to_thread(router.release_writes, Side.MODERN)
        assert released.released
        assert released.proxies == 2
        assert released.held_writes == 1
        assert released.setting is not None
        assert released.setting.system_of_record is Side.MODERN
        response = await write
        assert response.status_code == 201
        assert response.headers["x-served-by"] == "modern"
        after = await second.post("/claims", json={"c": 2})
        assert after.headers["x-served-by"] == "modern"
    assert services.legacy.writes.total() == 0
    router.close()
