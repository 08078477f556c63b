"""The NGINX router against a real NGINX (Debian's package) started here on free ports
with its own prefix, in front of two real services: traffic moves through every stage,
citizens stay put, writes reach only the system of record, a refused configuration
leaves the previous one serving, and the figures come from NGINX's own access log."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import signal
import subprocess
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from adapters.router import open_router
from adapters.router.nginx import NginxRouter, render_include
from config.migration_plan import MigrationPlan, parse_plan
from domain.cutover import RouterSetting, Side
from domain.errors import RouterError
from tests.adapters.router.conftest import Services, free_port, wait_for_port
from tests.conftest import IN_CI

SYSTEM = "legacy-electoral"


def nginx_binary() -> str:
    found = shutil.which("nginx")
    if found is None and Path("/usr/sbin/nginx").exists():
        found = "/usr/sbin/nginx"
    if found is None:
        message = "nginx is not installed (apt-get install -y nginx)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return found


def nginx_plan(folder: Path, services: Services, *, modern_url: str | None = None,
               pid_file: Path | None = None, port: int,
               sticky: str | None = "header:X-Citizen-Id") -> MigrationPlan:  # fmt: skip
    data = {
        "system": {"id": SYSTEM, "name": "Electoral register"},
        "source": {"kind": "sql", "url": "sqlite:///legacy.db"},
        "target": {"url": "sqlite:///modern.db"},
        "tables": [{"source": "ELECTOR", "target": "electors", "key": ["ID"]}],
        "cutover": {
            "router": "nginx",
            "legacy_url": services.legacy.url,
            "modern_url": modern_url or services.modern.url,
            "sticky_key": sticky,
            "health_path": "/whoami",
            "nginx": {
                "config": str(folder / "nginx.conf"),
                "include_file": str(folder / "conf.d" / "switchover.conf"),
                "listen": f"127.0.0.1:{port}",
                "access_log": str(folder / "logs" / "switchover.json.log"),
                "pid_file": str(pid_file or folder / "nginx.pid"),
                "nginx_bin": nginx_binary(),
                "prefix": str(folder),
                "verify_timeout_s": 5,
                "upstream_timeout_s": 2,
            },
        },
    }
    return parse_plan(yaml.safe_dump(data), filename="nginx-plan.yaml")


@dataclass
class RunningNginx:
    folder: Path
    plan: MigrationPlan
    port: int
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@pytest.fixture
def nginx(tmp_path: Path, services: Services) -> Iterator[RunningNginx]:
    """An NGINX master of our own (never the system's), serving version 0: all on legacy."""
    binary = nginx_binary()
    folder = tmp_path / "nginx"
    for sub in ("conf.d", "logs", "tmp"):
        (folder / sub).mkdir(parents=True)
    os.chmod(folder / "tmp", 0o777)  # workers run as nobody when the master is root
    port = free_port()
    plan = nginx_plan(folder, services, port=port)
    (folder / "conf.d" / "switchover.conf").write_text(render_include(plan, RouterSetting()))
    temp = folder / "tmp"
    (folder / "nginx.conf").write_text(
        f"""
daemon off;
worker_processes 1;
pid {folder}/nginx.pid;
error_log {folder}/logs/error.log warn;
events {{ worker_connections 512; }}
http {{
    access_log off;
    client_body_temp_path {temp}/body;
    proxy_temp_path {temp}/proxy;
    fastcgi_temp_path {temp}/fastcgi;
    uwsgi_temp_path {temp}/uwsgi;
    scgi_temp_path {temp}/scgi;
    include {folder}/conf.d/*.conf;
}}
"""
    )
    process = subprocess.Popen(
        [binary, "-p", str(folder), "-c", str(folder / "nginx.conf"), "-e", "stderr"]
    )
    try:
        wait_for_port(port)
        yield RunningNginx(folder, plan, port, process)
    finally:
        process.send_signal(signal.SIGQUIT)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _served_by(client: httpx.Client, citizens: range, path: str = "/whoami") -> dict[str, str]:
    sides = {}
    for i in citizens:
        response = client.get(path, headers={"X-Citizen-Id": f"citizen-{i:05d}"})
        assert response.status_code == 200
        sides[f"citizen-{i:05d}"] = response.headers["x-served-by"]
    return sides


def test_traffic_moves_through_every_stage(nginx: RunningNginx, services: Services) -> None:
    router = open_router(nginx.plan, settings=None)  # type: ignore[arg-type]
    assert isinstance(router, NginxRouter)
    started = dt.datetime.now(dt.UTC)
    served: dict[int, Counter[str]] = {}
    on_modern_before: set[str] = set()
    stages = [0, 5, 25, 50, 100]
    with httpx.Client(base_url=nginx.url, trust_env=False) as client:
        for version, percent in enumerate(stages, start=1):
            setting = RouterSetting(modern_percent=percent, version=version)
            router.apply(setting)
            assert router.current() == setting

            citizens = range(2000)
            sides = _served_by(client, citizens)
            on_modern = {c for c, side in sides.items() if side == "modern"}
            share = len(on_modern) / len(citizens)
            # Consistent hashing gives about the weight's share, not exactly it.
            assert percent / 100 - 0.07 <= share <= percent / 100 + 0.07, (percent, share)
            if percent in (0, 100):
                assert share == percent / 100
            # Raising the share only moves citizens from legacy to modern.
            assert on_modern_before <= on_modern
            on_modern_before = on_modern
            # The same citizen reaches the same side again.
            again = _served_by(client, range(0, 2000, 10))
            assert all(sides[c] == side for c, side in again.items())
            # A write reaches the system of record (legacy) whatever the citizen's side.
            writes_before = services.legacy.writes["POST"]
            for i in range(0, 2000, 100):
                response = client.post("/claims", json={"n": i},
                                       headers={"X-Citizen-Id": f"citizen-{i:05d}"})  # fmt: skip
                assert response.headers["x-served-by"] == "legacy"
            assert services.legacy.writes["POST"] == writes_before + 20
            served[version] = Counter(sides.values()) + Counter(again.values())
            served[version]["legacy"] += 20
        assert services.modern.writes["POST"] == 0

        # Modern becomes the system of record: writes follow it.
        final = RouterSetting(modern_percent=100, system_of_record=Side.MODERN, version=6)
        router.apply(final)
        response = client.put("/claims/1", json={}, headers={"X-Citizen-Id": "citizen-00001"})
        assert response.headers["x-served-by"] == "modern"
        assert services.modern.writes["PUT"] == 1

    # NGINX's access log gives each stage's figures, per side, by setting version.
    for version, counts in served.items():
        metrics = router.metrics(started, setting_version=version)
        assert metrics.legacy.requests == counts["legacy"], version
        assert metrics.modern.requests == counts["modern"], version
        assert metrics.legacy.errors == metrics.modern.errors == 0
        if counts["modern"]:
            assert metrics.modern.percentile_ms(0.5) is not None
    health = router.health()
    assert health.legacy
    assert health.modern


def test_errors_on_a_side_are_counted(nginx: RunningNginx, services: Services) -> None:
    router = NginxRouter(nginx.plan)
    router.apply(RouterSetting(modern_percent=100, version=1))
    started = dt.datetime.now(dt.UTC)
    services.modern.fail.add("/broken")
    services.modern.stall.add("/stalled")
    with httpx.Client(base_url=nginx.url, trust_env=False, timeout=10) as client:
        assert client.get("/broken").status_code == 500
        assert client.get("/stalled").status_code == 504  # proxy_read_timeout 2 s
        assert client.get("/fine").status_code == 200
    metrics = router.metrics(started, setting_version=1)
    assert metrics.modern.requests == 3
    assert metrics.modern.errors == 2
    assert metrics.legacy.requests == 0
    assert router.metrics(started, setting_version=2).modern.requests == 0


def test_a_refused_configuration_leaves_the_previous_one_serving(
    nginx: RunningNginx, services: Services
) -> None:
    router = NginxRouter(nginx.plan)
    router.apply(RouterSetting(modern_percent=25, version=1))
    include = nginx.plan.cutover.nginx.include_file  # type: ignore[union-attr]
    good = include.read_text()
    # An upstream host that does not resolve: nginx -t refuses the configuration.
    broken = NginxRouter(
        nginx_plan(
            nginx.folder, services, port=nginx.port, modern_url="http://no-such-host.invalid:9"
        )
    )
    with pytest.raises(RouterError, match="nginx -t refused"):
        broken.apply(RouterSetting(modern_percent=50, version=2))
    assert include.read_text() == good
    assert router.current().version == 1

    # A master that cannot be signalled: the file is restored too.
    unsignalled = NginxRouter(
        nginx_plan(nginx.folder, services, port=nginx.port, pid_file=nginx.folder / "missing.pid")
    )
    with pytest.raises(RouterError, match="pid file"):
        unsignalled.apply(RouterSetting(modern_percent=50, version=2))
    assert include.read_text() == good
    assert router.current().version == 1


@pytest.mark.parametrize(
    ("sticky", "request_for"),
    [
        ("cookie:cid", lambda c: ("/whoami", {"Cookie": f"theme=dark; cid={c}"})),
        ("path:/claimants/{id}", lambda c: (f"/claimants/{c}/history", {})),
        ("path:2", lambda c: (f"/claimants/{c}", {})),
    ],
)
def test_cookie_and_path_keys_keep_citizens_in_place(
    nginx: RunningNginx, services: Services, sticky: str, request_for: Any
) -> None:
    plan = nginx_plan(nginx.folder, services, port=nginx.port, sticky=sticky)
    router = NginxRouter(plan)
    router.apply(RouterSetting(modern_percent=50, version=1))
    sides: dict[str, str] = {}
    with httpx.Client(base_url=nginx.url, trust_env=False) as client:
        for round_ in range(2):
            for i in range(600):
                path, headers = request_for(f"C{i:04d}")
                side = client.get(path, headers=headers).headers["x-served-by"]
                if round_ == 0:
                    sides[f"C{i:04d}"] = side
                else:
                    assert sides[f"C{i:04d}"] == side, (sticky, i)
    share = sum(side == "modern" for side in sides.values()) / len(sides)
    assert 0.40 <= share <= 0.60, share


def test_without_a_sticky_key_requests_are_spread(nginx: RunningNginx, services: Services) -> None:
    router = NginxRouter(nginx_plan(nginx.folder, services, port=nginx.port, sticky=None))
    router.apply(RouterSetting(modern_percent=50, version=1))
    with httpx.Client(base_url=nginx.url, trust_env=False) as client:
        served = Counter(client.get("/whoami").headers["x-served-by"] for _ in range(600))
    # One client, no key: each request is a fresh draw, not one side for everything.
    assert 0.40 <= served["modern"] / 600 <= 0.60, served


def test_at_the_switch_writes_are_refused_not_lost_and_then_go_to_modern(
    nginx: RunningNginx, services: Services
) -> None:
    router = NginxRouter(nginx.plan)
    router.apply(RouterSetting(modern_percent=50, version=3))
    workers_before = router._workers()
    hold = router.hold_writes()
    assert (hold.held, hold.refusing) == (True, True)
    # The workers that served before the reload have exited: nothing in flight to legacy.
    assert not workers_before & router._workers()
    with httpx.Client(base_url=nginx.url, trust_env=False) as client:
        refused = client.post("/claims", json={}, headers={"X-Citizen-Id": "citizen-00001"})
        assert refused.status_code == 503
        assert refused.headers["retry-after"] == "5"
        assert client.get("/whoami", headers={"X-Citizen-Id": "citizen-00001"}).status_code == 200
        assert services.legacy.writes.total() == services.modern.writes.total() == 0
        assert router.hold_writes().refusing  # a retry finds it in place
        released = router.release_writes(Side.MODERN, modern_percent=100)
        assert released.released
        assert released.setting == RouterSetting(
            modern_percent=100, system_of_record=Side.MODERN, version=3
        )
        response = client.post("/claims", json={}, headers={"X-Citizen-Id": "citizen-00001"})
        assert response.headers["x-served-by"] == "modern"
    assert router.current().system_of_record is Side.MODERN
    # The workflow's next setting gives the switch its own version, writes open.
    router.apply(RouterSetting(modern_percent=100, system_of_record=Side.MODERN, version=4))
    assert router.current().version == 4
