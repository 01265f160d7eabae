"""/api/auth: sign in with the user pool, refresh the session, sign out, and who am I."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body
from pydantic import BaseModel, ConfigDict, Field
from spoonfeeder import web
from spoonfeeder.auth import cognito, tokens
from spoonfeeder.errors import Unauthorized
from spoonfeeder.models.envelope import Envelope

from routers.deps import config, login_throttle

router = Router()


class Login(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(min_length=1, max_length=256)
    password: str = Field(min_length=1, max_length=256)


class Tokens(BaseModel):
    accessToken: str
    idToken: str
    refreshToken: str | None = Field(description="Also set as the httpOnly `sf_refresh` cookie (Path=/api/auth); "
                                                 "absent after a refresh")
    expiresIn: int
    tokenType: str


class SignedOut(BaseModel):
    signedOut: bool = Field(description="False when there was no live session to end; the cookies are "
                                        "cleared either way")


class Me(BaseModel):
    id: str
    username: str | None
    email: str | None


def _cookie(name: str) -> str | None:
    return tokens.cookie(list(router.current_event.cookies or []), name)


@router.post("/login", summary="Sign in: tokens, an httpOnly session cookie and an httpOnly refresh cookie",
             description="Failed sign-ins are throttled per username and source address, and more loosely per "
                         "username (429 LOGIN_THROTTLED with Retry-After).",
             **web.contract(Envelope[Tokens], "Signed in", 401, 403, 503, public=True, body=True))
def login(body: Annotated[Login, Body()]) -> Response[Envelope[Tokens]]:
    throttle, source = login_throttle(), web.source_ip(router)
    throttle.check(body.username, source)
    try:
        issued = cognito.login(body.username, body.password, client_id=config.user_pool_client_id)
    except Unauthorized:
        throttle.failed(body.username, source)
        raise
    cookies = [tokens.session_cookie(issued["accessToken"], max_age=issued["expiresIn"])]
    if issued["refreshToken"]:
        cookies.append(tokens.refresh_cookie(issued["refreshToken"]))
    return web.ok(router, issued, cookies=cookies)


@router.post("/refresh", summary="New tokens and session cookie from the httpOnly refresh cookie",
             **web.contract(Envelope[Tokens], "Refreshed", 401, 503, public=True))
def refresh() -> Response[Envelope[Tokens]]:
    refresh_token = _cookie(tokens.REFRESH_COOKIE)
    if not refresh_token:
        raise Unauthorized("no refresh cookie; sign in", code="SESSION_EXPIRED")
    issued = cognito.refresh(refresh_token, client_id=config.user_pool_client_id)
    return web.ok(router, issued, cookies=[tokens.session_cookie(issued["accessToken"], max_age=issued["expiresIn"])])


@router.post("/logout", summary="Sign out: revoke the session's tokens and clear both cookies",
             **web.contract(Envelope[SignedOut], "Signed out", 503, public=True))
def logout() -> Response[Envelope[SignedOut]]:
    bearer = router.current_event.headers.get("authorization") or ""
    access = _cookie(tokens.SESSION_COOKIE) or (bearer[7:].strip() if bearer[:7].lower() == "bearer " else None)
    ended = cognito.sign_out(access_token=access, refresh_token=_cookie(tokens.REFRESH_COOKIE),
                             client_id=config.user_pool_client_id)
    return web.ok(router, SignedOut(signedOut=ended), cookies=tokens.cleared_cookies())


@router.get("/me", summary="The signed-in user", **web.contract(Envelope[Me], "The user"))
def me() -> Response[Envelope[Me]]:
    claims = web.claims(router)
    return web.ok(router, Me(id=claims["sub"], username=claims.get("cognito:username") or claims.get("username"),
                             email=claims.get("email")))
