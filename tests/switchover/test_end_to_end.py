"""End to end: `switchover up` starts the real dev server and worker; the CLI ingests a scan
and takes it to an approved record, quarantines a broken file, and Ctrl-C stops it all."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from switchover.devserver import free_port
from switchover.specimens import write_specimens
from tests.switchover.tokens import reviewer_env

pytestmark = pytest.mark.slow

SWITCHOVER = str(Path(sys.executable).parent / "switchover")


@pytest.fixture
def stack(tmp_path: Path):
    port = free_port()
    env = {
        **os.environ,
        "SWITCHOVER_HOME": str(tmp_path / "state"),
        "SWITCHOVER_TEMPORAL_ADDRESS": f"127.0.0.1:{port}",
        "SWITCHOVER_TEMPORAL_UI_PORT": str(free_port()),
        "SWITCHOVER_WEB_PORT": str(free_port()),
        "SWITCHOVER_LOG_FORMAT": "json",
        "SWITCHOVER_OCR_WORKERS": "2",
    }
    log_path = tmp_path / "up.log"
    with log_path.open("wb") as log:
        up = subprocess.Popen([SWITCHOVER, "up"], env=env, stdout=log, stderr=subprocess.STDOUT,
                              cwd=tmp_path)  # fmt: skip
    deadline = time.monotonic() + 120
    while "Switchover is up" not in log_path.read_text(errors="replace"):
        if up.poll() is not None or time.monotonic() > deadline:
            up.kill()
            pytest.fail(f"switchover up did not come up:\n{log_path.read_text()}")
        time.sleep(0.3)
    yield env, up, port, log_path
    if up.poll() is None:
        up.kill()
        up.wait()


def cli(env: dict[str, str], *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([SWITCHOVER, *args], env=env, cwd=cwd, capture_output=True, text=True,
                          timeout=300, check=False)  # fmt: skip


def test_scan_to_approved_record_and_clean_stop(stack, tmp_path: Path):
    env, up, port, log_path = stack
    (specimen,) = write_specimens(tmp_path / "in", form_type="register-to-vote", count=1,
                                  seed=11, variants=("scan",))  # fmt: skip
    scan = specimen.files["scan"]

    ingested = cli(env, "forms", "ingest", str(scan), "--wait", "--json", cwd=tmp_path)
    assert ingested.returncode == 0, ingested.stderr
    summary = json.loads(ingested.stdout)
    assert summary["status"] in ("approved", "awaiting_review")

    if summary["status"] == "awaiting_review":
        shown = json.loads(cli(env, "review", "show", str(summary["task_id"]), "--json",
                               cwd=tmp_path).stdout)  # fmt: skip
        doubtful = [r["field"] for r in shown["reasons"] if r["field"]]
        sets = []
        for name in doubtful:
            value = specimen.truth[name]
            if value is not None:
                sets += ["--set", f"{name}={'yes' if value is True else value}"]
        reviewer = reviewer_env(SWITCHOVER, env, "cw1", str(tmp_path))
        approved = cli(reviewer, "review", "approve", str(summary["task_id"]), *sets,
                       "--by", "cw1", cwd=tmp_path)  # fmt: skip
        assert approved.returncode == 0, approved.stderr
        again = cli(reviewer, "review", "approve", str(summary["task_id"]), cwd=tmp_path)
        assert again.returncode == 1  # a conflict, said in one line
        assert "switchover:" in again.stderr

    savings = json.loads(cli(env, "savings", "report", "--json", cwd=tmp_path).stdout)
    assert savings["ledger"] == [{"kind": "form", "subject": "register-to-vote",
                                  "entries": 1, "amount_gbp": "6.38"}]  # fmt: skip
    assert savings["cost_per_form"]["forms_decided"] == 1

    # The same file again is the same document: no second record, no second saving.
    repeat = json.loads(cli(env, "forms", "ingest", str(scan), "--json", cwd=tmp_path).stdout)
    assert repeat["already"] is True

    broken = tmp_path / "in" / "broken.pdf"
    broken.write_bytes(b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog")  # truncated
    quarantined = cli(env, "forms", "ingest", str(broken), "--wait", "--json", cwd=tmp_path)
    assert json.loads(quarantined.stdout)["status"] == "quarantined"

    up.send_signal(signal.SIGINT)
    assert up.wait(60) == 0, log_path.read_text()
    with socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", port)) != 0  # the dev server is gone
    log_text = log_path.read_text()
    assert "Switchover stopped." in log_text
    for name, value in specimen.truth.items():
        if isinstance(value, str) and len(value) > 4 and name not in ("nationality",):
            assert value not in log_text, f"the value of {name} reached the log"
