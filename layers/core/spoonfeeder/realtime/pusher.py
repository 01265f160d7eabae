"""Posting to WebSocket connections through API Gateway's @connections management API."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

import boto3
from botocore.exceptions import ClientError


@cache
def _management_client(endpoint_url: str) -> Any:
    # An explicit endpoint: the API's own URL, not the AWS_ENDPOINT_URL that points the data clients elsewhere.
    return boto3.client("apigatewaymanagementapi", endpoint_url=endpoint_url)


class Pusher:
    def __init__(self, endpoint_url: str) -> None:
        self.api = _management_client(endpoint_url)

    def send(self, connection_id: str, message: dict[str, Any]) -> bool:
        """Send one JSON message; False when the connection is gone (410)."""
        try:
            self.api.post_to_connection(ConnectionId=connection_id,
                                        Data=json.dumps(message, separators=(",", ":")).encode())
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "GoneException":
                return False
            raise
        return True
