"""Posting to WebSocket connections through API Gateway's @connections management API."""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from spoonfeeder.data.aws import client


class Pusher:
    def __init__(self, endpoint_url: str) -> None:
        # An explicit endpoint: the API's own URL, not the AWS_ENDPOINT_URL that points the data clients elsewhere.
        self.api = client("apigatewaymanagementapi", endpoint_url=endpoint_url)

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
