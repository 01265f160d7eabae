"""boto3 clients, created once per process and reused across invocations.

Endpoints come from the environment (AWS_ENDPOINT_URL points them at the local cloud), never from code.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import boto3
from botocore.config import Config

_CONFIG = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=5, read_timeout=30)


@cache
def client(service: str) -> Any:
    return boto3.client(service, config=_CONFIG)  # type: ignore[call-overload]
