"""What the builtin router costs: throughput and latency through the proxy against
direct calls to the same service, in the same run.

Everything runs as its own process on this machine: the upstream service (uvicorn, a
small JSON answer, optionally after a simulated service time), the proxy
(``run_proxy``, steered by a SQLite engine database, half the citizens on each side,
both sides the same service), and the load generator: ``wrk`` (Debian's package) with a
Lua script giving each request its own citizen id, or, when wrk is missing, an asyncio
raw-socket client in a subprocess. Each measurement is preceded by a warm-up; direct and
proxied loads alternate ``--repeat`` times against the same running service, and the
ratio and p50 added reported are the medians of the runs (the machine is shared, so
single runs vary). Where NGINX is installed, one NGINX worker in front of the same
service is measured too: what a proxy written in C gets on the same machine.

Throughput on two shared cores also depends on what else runs, so the CPU time the proxy
and the service each spent per request (from /proc) is reported too: it does not move
with the load of other work.

    .venv/bin/python bench/router.py [--duration 10] [--connections 1 32] [--service-ms 0 5]
                                     [--repeat 3] [--no-nginx]

The aim (issue 11): throughput at least 0.5 of direct against a service that answers at
once, with p50 added under 1 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from switchover.devserver import free_port

REPO = Path(__file__).resolve().parents[1]
SYSTEM = "bench-system"

WRK_SCRIPT = """
local n = 0
request = function()
  n = n + 1
  return wrk.format("GET", "/claimants/" .. n, {["X-Citizen-Id"] = "citizen-" .. n})
end
done = function(summary, latency, requests)
  io.write(string.format('{"requests": %d, "seconds": %f, "errors": %d, '
    .. '"p50_us": %d, "p99_us": %d}\\n',
    summary.requests, summary.duration / 1e6,
    summary.errors.connect + summary.errors.read + summary.errors.write
      + summary.errors.status + summary.errors.timeout,
    latency:percentile(50), latency:percentile(99)))
end
"""


def wait_for_port(port: int, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port}")


# --- the upstream service ---------------------------------------------------------------------


def upstream_app(service_ms: float) -> Any:
    body = json.dumps({"claimant": "x", "weekly_amount": "112.50", "status": "active"}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        if service_ms:
            await asyncio.sleep(service_ms / 1000)
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return app


def serve_upstream(port: int, service_ms: float) -> None:
    import uvicorn

    uvicorn.run(upstream_app(service_ms), host="127.0.0.1", port=port, log_level="warning",
                access_log=False, lifespan="off")  # fmt: skip


# --- load ---------------------------------------------------------------------------------------


@dataclass
class Result:
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    requests: int = 0
    proxy_cpu_us: float | None = None  # CPU time per request, when measured
    service_cpu_us: float | None = None


def cpu_seconds(pid: int) -> float | None:
    """User and system CPU time a process has used (Linux), None elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_wrk(url: str, seconds: float, connections: int, script: Path) -> Result:
    output = subprocess.run(
        ["wrk", "-t", "1", "-c", str(connections), "-d", f"{seconds:g}s", "-s", str(script), url],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    line = next(line for line in output.splitlines() if line.startswith("{"))
    data = json.loads(line)
    return Result(data["requests"] / data["seconds"], data["p50_us"] / 1000,
                  data["p99_us"] / 1000, data["errors"], data["requests"])  # fmt: skip


async def _raw_client(host: str, port: int, seconds: float, connections: int) -> dict[str, Any]:
    latencies: list[float] = []
    errors = 0
    end = time.perf_counter() + seconds
    counter = 0

    async def connection() -> None:
        nonlocal errors, counter
        reader, writer = await asyncio.open_connection(host, port)
        while time.perf_counter() < end:
            counter += 1
            request = (f"GET /claimants/{counter} HTTP/1.1\r\nHost: {host}\r\n"
                       f"X-Citizen-Id: citizen-{counter}\r\n\r\n").encode()  # fmt: skip
            started = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - started)
            if not head.startswith(b"HTTP/1.1 2"):
                errors += 1
        writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(connection() for _ in range(connections)))
    took = time.perf_counter() - started
    latencies.sort()
    return {
        "requests": len(latencies), "seconds": took, "errors": errors,
        "p50_us": latencies[len(latencies) // 2] * 1e6,
        "p99_us": latencies[int(len(latencies) * 0.99)] * 1e6,
    }  # fmt: skip


def run_raw(url: str, seconds: float, connections: int) -> Result:
    host, port = url.removeprefix("http://").split(":")
    output = subprocess.run(
        [sys.executable, __file__, "--raw-client", host, port, str(seconds), str(connections)],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    data = json.loads(output)
    return Result(data["requests"] / data["seconds"], data["p50_us"] / 1000,
                  data["p99_us"] / 1000, data["errors"], data["requests"])  # fmt: skip


# --- the proxy ------------------------------------------------------------------------------------


def prepare_engine_db(folder: Path) -> str:
    sys.path.insert(0, str(REPO))
    from decimal import Decimal

    from db.cutover import set_cutover_state
    from db.migrate import upgrade
    from db.programme import register_system
    from db.session import dispose_engines, session_scope
    from domain.cutover import CutoverPhase, RouterSetting

    url = f"sqlite:///{folder / 'switchover.db'}"
    upgrade(url)
    with session_scope(url) as session:
        register_system(session, system_id=SYSTEM, name="Bench", department="Bench",
                        risk_score=1, annual_run_cost_gbp=Decimal(0),
                        migration_cost_gbp=Decimal(0), actor="bench")  # fmt: skip
        set_cutover_state(session, SYSTEM, phase=CutoverPhase.STAGE,
                          setting=RouterSetting(modern_percent=50))  # fmt: skip
    dispose_engines()
    return url


def write_plan(folder: Path, upstream: str) -> Path:
    import yaml

    plan = {
        "system": {"id": SYSTEM, "name": "Bench"},
        "source": {"kind": "sql", "url": "sqlite:///legacy.db"},
        "target": {"url": "sqlite:///modern.db"},
        "tables": [{"source": "T", "target": "t", "key": ["ID"]}],
        "cutover": {"router": "builtin", "legacy_url": upstream, "modern_url": upstream,
                    "sticky_key": "header:X-Citizen-Id", "shadow": False},
    }  # fmt: skip
    path = folder / "plan.yaml"
    path.write_text(yaml.safe_dump(plan))
    return path


def start(args: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    return subprocess.Popen(args, env={**os.environ, **(env or {})}, cwd=REPO)


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()


def measured(
    load: Any,
    url: str,
    seconds: float,
    connections: int,
    processes: tuple[subprocess.Popen[bytes], subprocess.Popen[bytes]],
) -> Result:
    """One load run, with the CPU time the service and the proxy spent per request."""
    service, proxy = processes
    service_before, proxy_before = cpu_seconds(service.pid), cpu_seconds(proxy.pid)
    result: Result = load(url, seconds, connections)
    service_after, proxy_after = cpu_seconds(service.pid), cpu_seconds(proxy.pid)
    if result.requests and service_before is not None and service_after is not None:
        result.service_cpu_us = (service_after - service_before) / result.requests * 1e6
    if result.requests and proxy_before is not None and proxy_after is not None:
        result.proxy_cpu_us = (proxy_after - proxy_before) / result.requests * 1e6
    return result


def median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


NGINX_CONF = """worker_processes 1;
daemon off;
pid {folder}/nginx.pid;
error_log {folder}/nginx-error.log warn;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  client_body_temp_path {folder}/nginx-body;
  proxy_temp_path {folder}/nginx-proxy;
  fastcgi_temp_path {folder}/nginx-fastcgi;
  uwsgi_temp_path {folder}/nginx-uwsgi;
  scgi_temp_path {folder}/nginx-scgi;
  upstream service {{ server 127.0.0.1:{upstream}; keepalive 64; }}
  server {{
    listen 127.0.0.1:{port};
    location / {{ proxy_pass http://service; proxy_http_version 1.1;
                 proxy_set_header Connection ""; }}
  }}
}}
"""

Runs = dict[tuple[str, int], list[dict[str, Result]]]  # (service, conns) -> run per repeat


def start_nginx(folder: Path, upstream_port: int) -> tuple[subprocess.Popen[bytes], int]:
    """One NGINX worker proxying to the service with kept-alive connections: what a
    proxy in C costs on the same machine, for reference."""
    port = free_port()
    conf = folder / "nginx.conf"
    conf.write_text(NGINX_CONF.format(folder=folder, upstream=upstream_port, port=port))
    return start(["nginx", "-c", str(conf), "-p", str(folder)]), port


def measure_service(service_ms: float, args: argparse.Namespace, folder: Path,
                    database_url: str, load: Any, runs: Runs) -> None:  # fmt: skip
    """Start the service and the proxy (and NGINX), then alternate the loads."""
    upstream_port, proxy_port = free_port(), free_port()
    upstream = start([sys.executable, __file__, "--serve-upstream", str(upstream_port),
                      str(service_ms)])  # fmt: skip
    plan = write_plan(folder, f"http://127.0.0.1:{upstream_port}")
    code = (
        "from adapters.router.builtin import run_proxy; from config.settings import "
        f"Settings; run_proxy({str(plan)!r}, Settings(), '127.0.0.1', {proxy_port})"
    )
    proxy = start([sys.executable, "-c", code],
                  {"SWITCHOVER_DATABASE_URL": database_url,
                   "SWITCHOVER_LOG_LEVEL": "WARNING"})  # fmt: skip
    ports = {"direct": upstream_port, "proxy": proxy_port}
    nginx = None
    if args.nginx:
        nginx, ports["nginx"] = start_nginx(folder, upstream_port)
    try:
        for port in ports.values():
            wait_for_port(port)
        for connections in args.connections:
            for _ in range(args.repeat):
                run = {}
                for name, port in ports.items():
                    url = f"http://127.0.0.1:{port}"
                    load(url, args.warmup, connections)
                    run[name] = measured(load, url, args.duration, connections,
                                         (upstream, proxy))  # fmt: skip
                runs.setdefault((f"{service_ms:g} ms", connections), []).append(run)
    finally:
        for process in (proxy, upstream, nginx):
            if process is not None:
                stop(process)


def report(runs: Runs, args: argparse.Namespace, client: str) -> None:
    print(f"\nbuiltin router vs direct: {args.duration:g} s each, {args.repeat} runs, load "
          f"from {client}, {os.cpu_count()} cores shared by load, proxy and service\n")  # fmt: skip
    print(f"{'service':>8} {'conns':>5} {'path':>7} {'req/s':>8} {'p50 ms':>7} {'p99 ms':>7} "
          f"{'errors':>6} {'service CPU':>11} {'proxy CPU':>9}")  # fmt: skip
    for (service, connections), repeats in runs.items():
        for run in repeats:
            for name, result in run.items():
                service_used = _us(result.service_cpu_us)
                proxy_used = _us(result.proxy_cpu_us) if name == "proxy" else ""
                print(f"{service:>8} {connections:>5} {name:>7} {result.rps:>8.0f} "
                      f"{result.p50_ms:>7.2f} {result.p99_ms:>7.2f} {result.errors:>6} "
                      f"{service_used:>11} {proxy_used:>9}")  # fmt: skip
    print()
    for (service, connections), repeats in runs.items():
        ratios = [run["proxy"].rps / run["direct"].rps for run in repeats]
        added = [run["proxy"].p50_ms - run["direct"].p50_ms for run in repeats]
        proxy_cpu = [r["proxy"].proxy_cpu_us for r in repeats if r["proxy"].proxy_cpu_us]
        service_cpu = [r["direct"].service_cpu_us for r in repeats if r["direct"].service_cpu_us]
        cpu = ""
        if proxy_cpu and service_cpu:
            cpu = (f"; proxy CPU {median(proxy_cpu):.0f} us a request, "
                   f"{median(proxy_cpu) / median(service_cpu):.1f}x the service's")  # fmt: skip
        nginx = ""
        if all("nginx" in run for run in repeats):
            nginx = (f"; nginx {median([r['nginx'].rps / r['direct'].rps for r in repeats]):.2f}"
                     " of direct")  # fmt: skip
        print(f"service {service}, {connections} connection(s): throughput "
              f"{median(ratios):.2f} of direct (runs {min(ratios):.2f}-{max(ratios):.2f}), "
              f"p50 added {median(added):+.2f} ms{cpu}{nginx}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--connections", type=int, nargs="+", default=[1, 32])
    parser.add_argument("--service-ms", type=float, nargs="+", default=[0.0, 5.0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--client", choices=["auto", "wrk", "python"], default="auto")
    parser.add_argument("--nginx", action=argparse.BooleanOptionalAction,
                        default=shutil.which("nginx") is not None,
                        help="also measure NGINX in front of the same service")  # fmt: skip
    args = parser.parse_args()
    use_wrk = args.client == "wrk" or (args.client == "auto" and shutil.which("wrk"))
    runs: Runs = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        script = folder / "citizens.lua"
        script.write_text(WRK_SCRIPT)
        database_url = prepare_engine_db(folder)

        def load(url: str, seconds: float, connections: int) -> Result:
            if use_wrk:
                return run_wrk(url, seconds, connections, script)
            return run_raw(url, seconds, connections)

        for service_ms in args.service_ms:
            measure_service(service_ms, args, folder, database_url, load, runs)
    report(runs, args, "wrk -t1" if use_wrk else "python raw-socket client")


def _us(value: float | None) -> str:
    return f"{value:.0f} us" if value is not None else "-"


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--serve-upstream":
        serve_upstream(int(sys.argv[2]), float(sys.argv[3]))
    elif len(sys.argv) > 1 and sys.argv[1] == "--raw-client":
        host, port, seconds, connections = sys.argv[2:6]
        result = asyncio.run(_raw_client(host, int(port), float(seconds), int(connections)))
        print(json.dumps(result))
    else:
        main()
