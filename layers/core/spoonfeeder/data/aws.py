"""boto3 clients, created once per process on first use and reused across invocations.

Endpoints come from the environment (AWS_ENDPOINT_URL points them at the local cloud), never from code.

`client()` hands out a stand-in that creates the real client at its first call: a module may keep one from
import time without paying for it then (a client costs about as much as importing boto3). `warm()` creates
them ahead of time (before a SnapStart snapshot), and `reset()` drops them so that the next call makes fresh
ones, with new connections and credentials (after a restore); the stand-ins stay valid throughout.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import boto3
from botocore.config import Config

_CONFIG = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=5, read_timeout=30)
# Presigned S3 URLs signed with SigV4: botocore may still presign with the legacy SigV2, which regions opened
# since 2014 refuse.
_SERVICE_CONFIG = {"s3": _CONFIG.merge(Config(signature_version="s3v4"))}


@cache
def _real(service: str, endpoint_url: str | None) -> Any:
    if endpoint_url is None:
        return boto3.client(service, config=_SERVICE_CONFIG.get(service, _CONFIG))  # type: ignore[call-overload]
    # An explicit endpoint (the WebSocket API's own URL) with botocore's defaults, as the caller asked.
    return boto3.client(service, endpoint_url=endpoint_url)  # type: ignore[call-overload]


class LazyClient:
    """The process's boto3 client of one service (and endpoint): attribute access goes to the real client."""

    __slots__ = ("endpoint_url", "service")

    def __init__(self, service: str, endpoint_url: str | None) -> None:
        self.service, self.endpoint_url = service, endpoint_url

    def __getattr__(self, name: str) -> Any:
        return getattr(_real(self.service, self.endpoint_url), name)

    def __repr__(self) -> str:
        return f"LazyClient({self.service!r}, {self.endpoint_url!r})"


_handed_out: dict[tuple[str, str | None], LazyClient] = {}


def client(service: str, *, endpoint_url: str | None = None) -> Any:
    key = (service, endpoint_url)
    if key not in _handed_out:
        _handed_out[key] = LazyClient(service, endpoint_url)
    return _handed_out[key]


def warm(*services: str) -> None:
    """Create now the real clients behind the stand-ins handed out so far and those of `services`."""
    for service in services:
        client(service)
    for lazy in list(_handed_out.values()):
        _real(lazy.service, lazy.endpoint_url)


def reset() -> None:
    """Forget every real client: the next call through a stand-in creates a new one."""
    _real.cache_clear()
