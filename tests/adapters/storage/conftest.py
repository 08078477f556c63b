"""Document stores for the contract tests: a local folder, and S3 over real HTTP.

The S3 store talks to moto's standalone server, started on a free port of 127.0.0.1 for
the session: requests go through botocore's whole HTTP stack, as they would to AWS.
"""

from __future__ import annotations

import contextlib
import secrets
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from moto.server import ThreadedMotoServer

from adapters.storage import DocumentStore, LocalStore, open_store, s3_client
from config.settings import Settings

BUCKET = "switchover-test"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """The URL of a moto S3 server, with fake credentials in the environment."""
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    with pytest.MonkeyPatch.context() as env:
        env.setenv("AWS_ACCESS_KEY_ID", "testing")
        env.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        env.delenv("AWS_PROFILE", raising=False)
        env.delenv("AWS_SESSION_TOKEN", raising=False)
        # A proxy in the environment must not intercept the local server.
        env.setenv("NO_PROXY", "127.0.0.1,localhost")
        env.setenv("no_proxy", "127.0.0.1,localhost")
        server.start()
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            server.stop()


@pytest.fixture(scope="session")
def s3_settings(s3_endpoint: str) -> Settings:
    settings = Settings(s3_endpoint_url=s3_endpoint, s3_region="eu-west-2")
    client = s3_client(settings)
    # moto keeps its buckets per process, not per server: another module's server (the
    # decommissioning tests import these fixtures) may have made the bucket already.
    with contextlib.suppress(client.exceptions.BucketAlreadyOwnedByYou):
        client.create_bucket(
            Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-2"}
        )
    return settings


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> DocumentStore:
    """A fresh, empty store: a temporary folder, or a fresh prefix of the S3 bucket."""
    if request.param == "local":
        return open_store((tmp_path / "objects").as_uri(), Settings())
    settings = request.getfixturevalue("s3_settings")
    return open_store(f"s3://{BUCKET}/test-{secrets.token_hex(4)}", settings)


@pytest.fixture
def local_store(tmp_path: Path) -> LocalStore:
    return LocalStore(tmp_path / "objects")
