"""A real IMAP server for the mailbox tests: Debian's dovecot, started with a configuration
of its own in a temporary folder (plaintext sign-in on 127.0.0.1, a free port, one user in a
passwd file, mail in a Maildir), stopped when the tests end."""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from switchover.devserver import free_port

USER = "mailroom"
PASSWORD = "scanner-password-1"
MAIL_USER = "nobody"  # dovecot refuses to keep mail as root
MAIL_GROUP = "nogroup"


@dataclass(frozen=True)
class ImapServer:
    host: str
    port: int
    user: str
    password: str
    log: Path


def _config(root: Path, port: int) -> str:
    return f"""
instance_name = switchover-test-{port}
base_dir = {root}/run
state_dir = {root}/state
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
log_path = {root}/dovecot.log
mail_location = maildir:{root}/mail/%u
first_valid_uid = 1
default_internal_user = dovecot
default_login_user = dovenull
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service pop3-login {{
  inet_listener pop3 {{
    port = 0
  }}
}}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/passwd
}}
userdb {{
  driver = static
  args = uid={MAIL_USER} gid={MAIL_GROUP} home={root}/mail/%u
}}
"""


@contextmanager
def dovecot() -> Iterator[ImapServer]:
    """A dovecot serving IMAP on a free port of 127.0.0.1 until the block ends."""
    binary = shutil.which("dovecot") or "/usr/sbin/dovecot"
    # Not below pytest's folder: dovecot's unprivileged processes must reach it.
    root = Path(tempfile.mkdtemp(prefix="switchover-dovecot-"))
    root.chmod(0o755)
    (root / "mail").mkdir(mode=0o777)
    (root / "mail").chmod(0o777)
    (root / "passwd").write_text(f"{USER}:{{PLAIN}}{PASSWORD}\n")
    port = free_port()
    (root / "dovecot.conf").write_text(_config(root, port))
    process = subprocess.Popen(
        [binary, "-F", "-c", str(root / "dovecot.conf")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        _wait_for(port, process, root / "dovecot.log")
        yield ImapServer("127.0.0.1", port, USER, PASSWORD, root / "dovecot.log")
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(root, ignore_errors=True)


def _wait_for(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            error = process.stderr.read().decode() if process.stderr else ""
            logged = log.read_text() if log.exists() else ""
            raise RuntimeError(f"dovecot exited ({process.returncode}): {error}{logged}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"dovecot did not listen on port {port} within 20 s")
