"""WebSocket function: $connect checks the token, $disconnect forgets, every message is a client action."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext
from spoonfeeder import settings, snapstart
from spoonfeeder.auth import tokens
from spoonfeeder.errors import Unauthorized
from spoonfeeder.realtime.connections import ConnectionStore
from spoonfeeder.realtime.pusher import Pusher
from spoonfeeder.settings import WsSettings

logger = Logger()
config = settings.load(WsSettings)
connections = ConnectionStore(config.table_name, ttl_seconds=config.connection_ttl_seconds)
pusher = Pusher(config.ws_management_url)
# SnapStart: the clients, PyJWT and the client actions are ready in the snapshot.
snapstart.prepare(modules=("jwt", "spoonfeeder.realtime.session"))


def _session(connection_id: str, owner: str) -> Any:
    """Client actions and task reads load with the first message: a cold start is nearly always a $connect."""
    from spoonfeeder.data.task_store import TaskStore
    from spoonfeeder.realtime.session import Session

    return Session(connection_id, owner, connections, TaskStore(config.table_name), pusher)


def _token(event: dict[str, Any]) -> str | None:
    """The token from `?token=`, else from the session cookie a browser sends along with the upgrade."""
    token = (event.get("queryStringParameters") or {}).get("token")
    if token:
        return str(token)
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
    return tokens.from_cookie_header(headers.get("cookie", ""))


def _connect(connection_id: str, event: dict[str, Any]) -> dict[str, Any]:
    token = _token(event)
    try:
        if not token:
            raise Unauthorized("a token is required")
        claims = tokens.verify(token, jwks_url=config.jwks_url, issuer=config.jwt_issuer,
                               audience=config.user_pool_client_id)
    except Unauthorized as exc:
        logger.info("connection refused", extra={"reason": exc.message})
        return {"statusCode": 401, "body": "Unauthorized"}
    connections.add(connection_id, str(claims["sub"]))
    return {"statusCode": 200}


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    ctx = event["requestContext"]
    connection_id = ctx["connectionId"]
    route = ctx["routeKey"]
    if route == "$connect":
        return _connect(connection_id, event)
    if route == "$disconnect":
        connections.remove(connection_id)
        return {"statusCode": 200}
    owner = connections.owner_of(connection_id)
    if owner is None:  # expired or never authenticated: a connection we no longer vouch for
        pusher.api.delete_connection(ConnectionId=connection_id)
        return {"statusCode": 410}
    _session(connection_id, owner).handle(event.get("body"))
    return {"statusCode": 200}
