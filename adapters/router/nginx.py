"""The NGINX router: one include file written per setting, NGINX reloaded safely.

Switchover owns ``nginx.include_file``, included in the ``http`` block of the engineer's
configuration. It holds, for one system:

- three upstreams: ``split`` (both services, weighted, ``hash <sticky key> consistent``),
  and ``legacy`` and ``modern`` alone;
- a ``map $request_method`` that sends reads to ``split`` and every other method to the
  system of record's upstream: a plain upstream cannot route by method, a map into
  ``proxy_pass http://$variable`` can (a variable naming a defined upstream needs no
  resolver);
- a server on ``nginx.listen`` with ``/_switchover/setting`` answering the setting it
  serves (the marker ``apply`` verifies after the reload), and a JSON access log that
  carries the setting version, parsed by ``metrics``.

``hash ... consistent`` is ketama: each server gets points on a ring in proportion to its
weight. Raising modern's weight adds modern points and removes legacy ones, so citizens
only move legacy → modern as stages rise. With no sticky value the key is
``$request_id``, a random draw. At 0 % or 100 % the split upstream holds one server only.

``apply``: write the new file (the previous one kept beside it as ``.previous``), run
``nginx -t`` on the whole configuration, send HUP to the master, then ask the server
until it answers the new version several times in a row on fresh connections. A failed
test, a failed signal or a reload that does not show restores the previous file (and
reloads it).

The access log holds no path or query (a path may carry a citizen's id) and no headers.

At the switch of the system of record stock NGINX cannot hold a request (a request is
bound to the configuration of the worker that took it), so ``hold_writes`` does the best
it allows: an include that answers writes ``503`` with ``Retry-After`` while reads go
on, reloaded and verified, then a wait until the old workers have exited (their
in-flight writes are then done). ``release_writes`` writes the include with the new
system of record and writes open again. A refused write was never acknowledged, so none
is lost; clients that do not retry on 503 lose theirs. See docs/cutover.md.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from adapters.router.routing import READ_METHODS, StickyKey, probe_sides
from config.log import get_logger
from config.migration_plan import CutoverPlan, MigrationPlan, NginxRouterOptions
from domain.cutover import (
    HoldWritesResult,
    ReleaseWritesResult,
    RouterHealth,
    RouterMetrics,
    RouterSetting,
    Side,
    SideMetrics,
    empty_histogram,
    latency_bucket,
)
from domain.errors import RouterError

log = get_logger(__name__)

SETTING_PATH = "/_switchover/setting"
VERSION_HEADER = "X-Switchover-Version"
WRITES_HEADER = "X-Switchover-Writes"  # "refused" while the switch window is open
RETRY_AFTER_S = 5
_VERIFY_STREAK = 3  # answers in a row showing the new version


def _ident(system_id: str) -> str:
    return "switchover_" + re.sub(r"\W", "_", system_id)


def _host_port(url: str) -> str:
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    host = parts.hostname or ""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def render_include(
    plan: MigrationPlan, setting: RouterSetting, *, refuse_writes: bool = False
) -> str:
    """The include file for one system under one setting (with ``refuse_writes``: writes
    answered 503 with Retry-After, for the switch of the system of record).

    Raises:
        RouterError: the two services do not share a scheme, or the plan has no nginx
            section.
    """
    cutover, options = _sections(plan)
    name = _ident(plan.system.id)
    legacy, modern = _host_port(cutover.legacy_url), _host_port(cutover.modern_url)
    scheme = urlsplit(cutover.legacy_url).scheme
    if urlsplit(cutover.modern_url).scheme != scheme:
        raise RouterError(
            "legacy_url and modern_url must both be http:// or both https:// for nginx",
            where=f"plan for {plan.system.id}, cutover",
        )
    percent = setting.modern_percent
    if percent <= 0:
        split = [f"server {legacy};"]
    elif percent >= 100:
        split = [f"server {modern};"]
    else:
        split = [f"server {legacy} weight={100 - percent};", f"server {modern} weight={percent};"]
    marker = json.dumps(setting.model_dump(mode="json"), separators=(",", ":"))
    reads = "\n".join(f"    {method} {name}_split;" for method in sorted(READ_METHODS))
    sor = f"{name}_{setting.system_of_record.value}"
    timeout = f"{options.upstream_timeout_s:g}s"
    split_lines = "\n".join(f"    {line}" for line in split)
    writes = "refused" if refuse_writes else "open"
    refusal = ""
    if refuse_writes:
        read_methods = "|".join(sorted(READ_METHODS))
        refusal = f"""
        if ($request_method !~ ^({read_methods})$) {{
            add_header Retry-After {RETRY_AFTER_S} always;
            add_header {VERSION_HEADER} {setting.version} always;
            return 503 '{{"error":"writes are paused for a moment; please retry"}}';
        }}"""
    return f"""\
# Written by Switchover for {plan.system.id}: setting version {setting.version},
# {percent}% of reads on modern, writes to {setting.system_of_record.value}.
# Do not edit: the next cutover stage overwrites this file.

log_format {name}_json escape=json '{{"msec":"$msec","version":{setting.version},'
    '"method":"$request_method","status":"$status","upstream":"$upstream_addr",'
    '"upstream_status":"$upstream_status","upstream_time":"$upstream_response_time"}}';

{_sticky_map(cutover, name)}

upstream {name}_split {{
    hash ${name}_key consistent;
{split_lines}
    keepalive 32;
}}

upstream {name}_legacy {{
    server {legacy};
    keepalive 16;
}}

upstream {name}_modern {{
    server {modern};
    keepalive 16;
}}

map $request_method ${name}_upstream {{
{reads}
    default {sor};
}}

server {{
    listen {options.listen};
    access_log {options.access_log} {name}_json;

    location = {SETTING_PATH} {{
        access_log off;
        default_type application/json;
        add_header {VERSION_HEADER} {setting.version} always;
        add_header {WRITES_HEADER} {writes} always;
        return 200 '{marker}';
    }}

    location / {{{refusal}
        proxy_pass {scheme}://${name}_upstream;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        proxy_set_header X-Forwarded-Proto $scheme;
        proxy_connect_timeout 5s;
        proxy_read_timeout {timeout};
        proxy_send_timeout {timeout};
        add_header {VERSION_HEADER} {setting.version} always;
    }}
}}
"""


def _sticky_map(cutover: CutoverPlan, name: str) -> str:
    """A map giving ``$<name>_key``: the sticky value, or ``$request_id`` without one."""
    if cutover.sticky_key is None:
        return f"map $request_id ${name}_key {{\n    default $request_id;\n}}"
    key = StickyKey.parse(cutover.sticky_key)
    if key.kind == "header":
        variable = "$http_" + key.name.lower().replace("-", "_")
        return f'map {variable} ${name}_key {{\n    "" $request_id;\n    default {variable};\n}}'
    # PCRE caps a capture's name at 32 characters; system ids can be longer.
    capture = "swk_" + hashlib.sha256(name.encode()).hexdigest()[:12]
    if key.kind == "cookie":
        source, regex = "$http_cookie", rf"(?:^|;\s*){re.escape(key.name)}=(?<k>[^;]+)"
    else:
        source, regex = "$uri", key.path_regex()
    regex = regex.replace("(?<k>", f"(?<{capture}>")
    return f'map {source} ${name}_key {{\n    "~{regex}" ${capture};\n    default $request_id;\n}}'


def _sections(plan: MigrationPlan) -> tuple[CutoverPlan, NginxRouterOptions]:
    if plan.cutover is None or plan.cutover.nginx is None:
        raise RouterError(
            "the plan has no cutover.nginx section", where=f"plan for {plan.system.id}"
        )
    return plan.cutover, plan.cutover.nginx


class NginxRouter:
    """Splits traffic through an NGINX the engineer runs, by rewriting one include file."""

    name = "nginx"

    def __init__(self, plan: MigrationPlan) -> None:
        self.plan = plan
        self.cutover, self.options = _sections(plan)
        self.system_id = plan.system.id
        self.base_url = f"http://{self.options.listen}"

    # --- apply ---

    def apply(self, setting: RouterSetting) -> None:
        """Write, test, reload, verify; restore the previous file on any failure.

        Raises:
            RouterError: ``nginx -t`` refused the file, the master could not be signalled,
                or the reloaded server did not show the new version in time. The
                previous file is back in place (and reloaded) when this is raised.
        """
        self._install(setting, refuse_writes=False)
        log.info(
            "nginx reloaded",
            system=self.system_id,
            version=setting.version,
            modern_percent=setting.modern_percent,
        )

    def _install(self, setting: RouterSetting, *, refuse_writes: bool) -> set[int]:
        """Write, test, reload and verify one include; the workers serving before it.

        Raises:
            RouterError: as ``apply``; the previous file is back in place.
        """
        include = self.options.include_file
        content = render_include(self.plan, setting, refuse_writes=refuse_writes)
        previous = include.read_bytes() if include.exists() else None
        if previous == content.encode("utf-8") and self._shows(setting.version, refuse_writes):
            return set()
        _write_atomically(include, content.encode("utf-8"))
        if previous is not None:
            _write_atomically(include.with_name(include.name + ".previous"), previous)
        try:
            self._test_config()
            old_workers = self._workers()
            self._reload()
            self._verify(setting.version, refuse_writes)
        except RouterError:
            self._restore(previous)
            raise
        return old_workers

    # --- the switch of the system of record: refuse writes, since NGINX cannot hold ---

    def hold_writes(self) -> HoldWritesResult:
        """Refuse writes (503, Retry-After) under the setting served now, reads going on,
        and wait until the workers that served before have exited: no write is then in
        flight to the old system of record.

        Raises:
            RouterError: the include was refused or did not show, or the old workers
                did not exit in time (writes are then open again, to the old system of
                record).
        """
        started = time.monotonic()
        setting = self.current()
        old_workers = self._install(setting, refuse_writes=True)
        deadline = time.monotonic() + self.options.upstream_timeout_s + 5
        while old_workers & self._workers():
            if time.monotonic() > deadline:
                self._install(setting, refuse_writes=False)
                raise RouterError(
                    f"nginx's old workers did not exit within "
                    f"{self.options.upstream_timeout_s + 5:g} s of the reload; writes are "
                    "open again to the old system of record",
                    where=f"nginx for {self.system_id}",
                )
            time.sleep(0.05)
        waited = time.monotonic() - started
        log.info("nginx refuses writes", system=self.system_id, waited_s=round(waited, 3))
        return HoldWritesResult(
            held=True, refusing=True, proxies=1, waited_s=waited,
            detail="writes are refused (503, Retry-After) until the release: stock nginx "
            "cannot hold a request",
        )  # fmt: skip

    def release_writes(
        self, system_of_record: Side, *, modern_percent: int | None = None
    ) -> ReleaseWritesResult:
        """Open writes again, to ``system_of_record`` (and the share, when given), under
        the version served now: the setting the workflow applies next gives it its own."""
        setting = self.current()
        percent = setting.modern_percent if modern_percent is None else modern_percent
        setting = setting.model_copy(
            update={"system_of_record": system_of_record, "modern_percent": percent}
        )
        self._install(setting, refuse_writes=False)
        log.info("nginx takes writes again", system=self.system_id,
                 system_of_record=system_of_record.value)  # fmt: skip
        return ReleaseWritesResult(released=True, setting=setting, proxies=1)

    def _workers(self) -> set[int]:
        """The master's worker processes now (empty where /proc cannot tell)."""
        master = self._master_pid()
        found: set[int] = set()
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            if len(fields) > 1 and fields[1] == str(master):
                found.add(int(stat.parent.name))
        return found

    def _nginx(self, *args: str) -> subprocess.CompletedProcess[str]:
        command = [self.options.nginx_bin, "-c", str(self.options.config), "-e", "stderr"]
        if self.options.prefix is not None:
            command += ["-p", str(self.options.prefix)]
        try:
            return subprocess.run(
                [*command, *args], capture_output=True, text=True, timeout=30, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as e:
            raise RouterError(
                f"cannot run {self.options.nginx_bin}: {e}", where=f"nginx for {self.system_id}"
            ) from e

    def _test_config(self) -> None:
        result = self._nginx("-t", "-q")
        if result.returncode != 0:
            problem = " ".join(result.stderr.strip().splitlines()[-3:]) or "no message"
            raise RouterError(
                f"nginx -t refused the configuration: {problem}",
                where=str(self.options.include_file),
            )

    def _master_pid(self) -> int:
        try:
            return int(self.options.pid_file.read_text().strip())
        except (OSError, ValueError) as e:
            raise RouterError(
                f"cannot read nginx's pid file: {e}", where=str(self.options.pid_file)
            ) from e

    def _reload(self) -> None:
        pid = self._master_pid()
        try:
            os.kill(pid, signal.SIGHUP)
        except OSError as e:
            raise RouterError(
                f"cannot signal the nginx master (pid {pid}) to reload: {e}",
                where=str(self.options.pid_file),
            ) from e

    def _served(self) -> tuple[int, bool] | None:
        """The setting version served, and whether writes are refused."""
        # A fresh connection each time: a kept-alive one may still be an old worker's.
        try:
            response = httpx.get(
                self.base_url + SETTING_PATH,
                timeout=2,
                trust_env=False,
                headers={"Connection": "close"},
            )
            refused = response.headers.get(WRITES_HEADER) == "refused"
            return int(response.headers[VERSION_HEADER]), refused
        except (httpx.HTTPError, KeyError, ValueError):
            return None

    def _shows(self, version: int, refuse_writes: bool = False) -> bool:
        return self._served() == (version, refuse_writes)

    def _verify(self, version: int, refuse_writes: bool = False) -> None:
        deadline = time.monotonic() + self.options.verify_timeout_s
        streak = 0
        seen: int | None = None
        while streak < _VERIFY_STREAK:
            served = self._served()
            seen = served[0] if served else None
            streak = streak + 1 if served == (version, refuse_writes) else 0
            if streak >= _VERIFY_STREAK:
                return
            if time.monotonic() > deadline:
                raise RouterError(
                    f"after the reload nginx serves setting version {seen}, not {version}, "
                    f"after {self.options.verify_timeout_s:g} s",
                    where=self.base_url + SETTING_PATH,
                )
            time.sleep(0.05)

    def _restore(self, previous: bytes | None) -> None:
        include = self.options.include_file
        if previous is None:
            include.unlink(missing_ok=True)
            return
        _write_atomically(include, previous)
        try:
            self._reload()
        except RouterError as e:
            log.error("nginx: cannot reload the restored configuration", error=str(e))

    # --- reading ---

    def current(self) -> RouterSetting:
        """The setting the running NGINX serves (its ``/_switchover/setting`` marker)."""
        url = self.base_url + SETTING_PATH
        try:
            response = httpx.get(url, timeout=5, trust_env=False)
            response.raise_for_status()
            return RouterSetting.model_validate(response.json())
        except (httpx.HTTPError, ValueError) as e:
            raise RouterError(f"cannot read the setting nginx serves: {e}", where=url) from e

    def health(self) -> RouterHealth:
        """Each side's answer to the plan's health path, asked directly."""
        with httpx.Client(timeout=5, trust_env=False) as client:
            return probe_sides(client, self.cutover)

    def metrics(self, since: dt.datetime, *, setting_version: int | None = None) -> RouterMetrics:
        """Figures from the JSON access log: each upstream attempt counts for its side.

        A request NGINX retried on the other server (``proxy_next_upstream``) shows both
        attempts, so a failing modern is counted even when legacy then answered.
        """
        sides = self._sides_by_address()
        totals = {Side.LEGACY: _Totals(), Side.MODERN: _Totals()}
        start = since.timestamp()
        try:
            lines = self.options.access_log.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            lines = ""
        except OSError as e:
            raise RouterError(
                f"cannot read nginx's access log: {e}", where=str(self.options.access_log)
            ) from e
        for line in lines.splitlines():
            try:
                entry = json.loads(line)
                if float(entry["msec"]) < start:
                    continue
                if setting_version is not None and int(entry["version"]) != setting_version:
                    continue
            except (ValueError, KeyError, TypeError):
                continue  # a line from another format, or cut short by a rotation
            for address, status, seconds in _attempts(entry):
                side = sides.get(address)
                if side is not None:
                    totals[side].add(status, seconds)
        return RouterMetrics(
            legacy=totals[Side.LEGACY].metrics(), modern=totals[Side.MODERN].metrics()
        )

    def _sides_by_address(self) -> dict[str, Side]:
        """Upstream addresses as NGINX logs them (resolved IPs) → side."""
        found: dict[str, Side] = {}
        urls = {Side.LEGACY: self.cutover.legacy_url, Side.MODERN: self.cutover.modern_url}
        for side, url in urls.items():
            found[_host_port(url)] = side
            parts = urlsplit(url)
            port = parts.port or (443 if parts.scheme == "https" else 80)
            try:
                for info in socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM):
                    host = str(info[4][0])
                    found[f"[{host}]:{port}" if ":" in host else f"{host}:{port}"] = side
            except OSError:
                pass
        return found

    def close(self) -> None:
        pass


class _Totals:
    def __init__(self) -> None:
        self.requests = 0
        self.errors = 0
        self.histogram = empty_histogram()

    def add(self, status: int | None, seconds: float | None) -> None:
        self.requests += 1
        self.errors += status is None or status >= 500
        if seconds is not None:
            self.histogram[latency_bucket(seconds * 1000)] += 1

    def metrics(self) -> SideMetrics:
        return SideMetrics(
            requests=self.requests, errors=self.errors, latency_histogram=self.histogram
        )


def _attempts(entry: dict[str, str]) -> list[tuple[str, int | None, float | None]]:
    """Each upstream attempt of one logged request: address, status, seconds."""
    addresses = re.split(r", | : ", entry.get("upstream", ""))
    statuses = re.split(r", | : ", entry.get("upstream_status", ""))
    times = re.split(r", | : ", entry.get("upstream_time", ""))
    out: list[tuple[str, int | None, float | None]] = []
    for i, address in enumerate(addresses):
        if not address or address == "-":
            continue
        status = statuses[i] if i < len(statuses) else ""
        took = times[i] if i < len(times) else ""
        out.append(
            (
                address,
                int(status) if status.isdigit() else None,
                float(took) if re.fullmatch(r"\d+(\.\d+)?", took) else None,
            )
        )
    return out


def _write_atomically(path: Path, content: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_bytes(content)
    os.replace(temporary, path)
