"""/api/auth: sign in with the user pool, and who am I."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body
from pydantic import BaseModel, Field
from spoonfeeder import web
from spoonfeeder.auth import cognito
from spoonfeeder.auth.tokens import session_cookie
from spoonfeeder.errors import Unauthorized

from routers.deps import config, login_throttle

router = Router()


class Login(BaseModel):
    username: str = Field(min_length=1, max_length=256)
    password: str = Field(min_length=1, max_length=256)


@router.post("/login", summary="Sign in; returns tokens and sets an httpOnly session cookie")
def login(body: Annotated[Login, Body()]) -> Response[str]:
    throttle = login_throttle()
    throttle.check(body.username)
    try:
        issued = cognito.login(body.username, body.password, client_id=config.user_pool_client_id)
    except Unauthorized:
        throttle.failed(body.username)
        raise
    return web.ok(router, issued, cookies=[session_cookie(issued["accessToken"], max_age=issued["expiresIn"])])


@router.get("/me", summary="The signed-in user")
def me() -> Response[str]:
    claims: dict[str, Any] = web.claims(router)
    return web.ok(router, {
        "id": claims["sub"],
        "username": claims.get("cognito:username") or claims.get("username"),
        "email": claims.get("email"),
    })
