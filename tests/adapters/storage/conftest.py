"""Document stores for the contract tests: a local folder, and S3 over real HTTP.

The S3 store talks to moto's standalone server (``aws_endpoint`` in tests/conftest.py):
requests go through botocore's whole HTTP stack, as they would to AWS.
"""

from __future__ import annotations

import contextlib
import secrets
from pathlib import Path

import pytest

from adapters.storage import DocumentStore, LocalStore, open_store, s3_client
from config.settings import Settings

BUCKET = "switchover-test"


@pytest.fixture(scope="session")
def s3_endpoint(aws_endpoint: str) -> str:
    """The URL of moto's server (tests/conftest.py), for the S3 store."""
    return aws_endpoint


@pytest.fixture(scope="session")
def s3_settings(s3_endpoint: str) -> Settings:
    settings = Settings(s3_endpoint_url=s3_endpoint, s3_region="eu-west-2")
    client = s3_client(settings)
    # The decommissioning tests' conftest imports this fixture, so it may run twice
    # against the one server: the bucket may be there already.
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
