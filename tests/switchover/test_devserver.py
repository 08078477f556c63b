"""The embedded dev server refuses to start in a bad state, with one clear line."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from domain.errors import ExitCode, LaunchError
from switchover import devserver
from switchover.devserver import free_port, start_dev_server


def test_port_in_use_is_refused(tmp_path: Path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(LaunchError, match=f"port {port}.*already in use"):
            start_dev_server(tmp_path, port=port, ui_port=free_port())


def test_server_left_running_is_refused(tmp_path: Path):
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        (tmp_path / "temporal.pid").write_text(str(sleeper.pid))
        with pytest.raises(LaunchError, match=f"still running \\(pid {sleeper.pid}\\)"):
            start_dev_server(tmp_path, port=free_port(), ui_port=free_port())
    finally:
        sleeper.kill()
        sleeper.wait()


def test_missing_binary_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(devserver.sys, "executable", str(tmp_path / "python"))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(LaunchError, match="temporal binary is missing") as caught:
        start_dev_server(tmp_path, port=free_port(), ui_port=free_port())
    assert caught.value.exit_code is ExitCode.UNAVAILABLE


@pytest.mark.slow
def test_stale_pid_file_is_cleared_and_server_starts_and_stops(tmp_path: Path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (tmp_path / "temporal.pid").write_text(str(dead.pid))
    port, ui_port = free_port(), free_port()
    server = start_dev_server(tmp_path, port=port, ui_port=ui_port)
    try:
        assert (tmp_path / "temporal.pid").read_text() == str(server.process.pid)
        assert devserver.port_in_use("127.0.0.1", port)
    finally:
        server.stop()
    assert server.process.poll() is not None
    assert not (tmp_path / "temporal.pid").exists()
    assert (tmp_path / "temporal.db").exists()
    assert not os.path.exists(tmp_path / "temporal.pid")
