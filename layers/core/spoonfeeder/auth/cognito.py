"""Sign-in, token refresh and sign-out against the Cognito user pool (USER_PASSWORD_AUTH)."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from spoonfeeder.data.aws import client
from spoonfeeder.errors import Forbidden, ServiceUnavailable, Unauthorized


def _unavailable(exc: Exception) -> ServiceUnavailable:
    """Any other user pool failure (throttling, an outage) is ours to report as 503, not the caller's fault."""
    code = exc.response["Error"]["Code"] if isinstance(exc, ClientError) else type(exc).__name__
    return ServiceUnavailable("the user pool did not answer; try again", code="AUTH_UNAVAILABLE",
                              details={"cause": code})


def _tokens(result: dict[str, Any]) -> dict[str, Any]:
    return {
        "accessToken": result["AccessToken"],
        "idToken": result["IdToken"],
        "refreshToken": result.get("RefreshToken"),
        "expiresIn": result["ExpiresIn"],
        "tokenType": result.get("TokenType", "Bearer"),
    }


def login(username: str, password: str, *, client_id: str) -> dict[str, Any]:
    idp = client("cognito-idp")
    try:
        got = idp.initiate_auth(
            ClientId=client_id, AuthFlow="USER_PASSWORD_AUTH",
            AuthParameters={"USERNAME": username, "PASSWORD": password},
        )
    except (idp.exceptions.NotAuthorizedException, idp.exceptions.UserNotFoundException,
            idp.exceptions.InvalidParameterException) as exc:  # a username the pool cannot hold: no such user
        raise Unauthorized("invalid username or password", code="INVALID_CREDENTIALS") from exc
    except idp.exceptions.UserNotConfirmedException as exc:
        raise Forbidden("the account is not confirmed yet", code="USER_NOT_CONFIRMED") from exc
    except (ClientError, BotoCoreError) as exc:
        raise _unavailable(exc) from exc
    result = got.get("AuthenticationResult")
    if not result:
        raise Forbidden("the account needs another sign-in step", code="CHALLENGE_REQUIRED",
                        details={"challenge": got.get("ChallengeName")})
    return _tokens(result)


def refresh(refresh_token: str, *, client_id: str) -> dict[str, Any]:
    """New access and ID tokens for a refresh token (Cognito keeps the refresh token: no rotation)."""
    idp = client("cognito-idp")
    try:
        got = idp.initiate_auth(ClientId=client_id, AuthFlow="REFRESH_TOKEN_AUTH",
                                AuthParameters={"REFRESH_TOKEN": refresh_token})
    except (idp.exceptions.NotAuthorizedException, idp.exceptions.UserNotFoundException,
            idp.exceptions.ResourceNotFoundException, idp.exceptions.InvalidParameterException) as exc:
        raise Unauthorized("the session has ended; sign in again", code="SESSION_EXPIRED") from exc
    except (ClientError, BotoCoreError) as exc:
        raise _unavailable(exc) from exc
    return _tokens(got["AuthenticationResult"])


def sign_out(*, access_token: str | None, refresh_token: str | None, client_id: str) -> bool:
    """Invalidate the user's refresh tokens (GlobalSignOut); True when Cognito did.

    With only a refresh token (the access token expired), a fresh access token is fetched for the
    sign-out. Access tokens already issued stay valid at the gateway until they expire (at most an hour):
    the JWT authorizer checks signatures, not revocation."""
    if access_token and _global_sign_out(access_token):
        return True
    if not refresh_token:
        return False
    try:
        fresh = refresh(refresh_token, client_id=client_id)["accessToken"]
    except Unauthorized:
        return False  # already revoked or expired: nothing left to sign out
    return _global_sign_out(fresh)


def _global_sign_out(access_token: str) -> bool:
    idp = client("cognito-idp")
    try:
        idp.global_sign_out(AccessToken=access_token)
    except idp.exceptions.NotAuthorizedException:
        return False
    except (ClientError, BotoCoreError) as exc:
        raise _unavailable(exc) from exc
    return True
