from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.servers import S3Server, s3_server


@pytest.fixture(scope="session")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """A real S3 server (s3s-fs) on 127.0.0.1 with the bucket ``forecasts``."""
    with s3_server(tmp_path_factory.mktemp("s3")) as server:
        yield server


@pytest.fixture
def s3_env(s3: S3Server, monkeypatch: pytest.MonkeyPatch) -> S3Server:
    """The S3 server's endpoint and credentials in the standard AWS variables."""
    for key, value in s3.env().items():
        monkeypatch.setenv(key, value)
    return s3
