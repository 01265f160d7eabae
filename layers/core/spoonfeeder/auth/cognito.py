"""Logins against the Cognito user pool (USER_PASSWORD_AUTH)."""

from __future__ import annotations

from typing import Any

from spoonfeeder.data.aws import client
from spoonfeeder.errors import Forbidden, Unauthorized


def login(username: str, password: str, *, client_id: str) -> dict[str, Any]:
    idp = client("cognito-idp")
    try:
        got = idp.initiate_auth(
            ClientId=client_id, AuthFlow="USER_PASSWORD_AUTH",
            AuthParameters={"USERNAME": username, "PASSWORD": password},
        )
    except (idp.exceptions.NotAuthorizedException, idp.exceptions.UserNotFoundException) as exc:
        raise Unauthorized("invalid username or password", code="INVALID_CREDENTIALS") from exc
    except idp.exceptions.UserNotConfirmedException as exc:
        raise Forbidden("the account is not confirmed yet", code="USER_NOT_CONFIRMED") from exc
    result = got.get("AuthenticationResult")
    if not result:
        raise Forbidden("the account needs another sign-in step", code="CHALLENGE_REQUIRED",
                        details={"challenge": got.get("ChallengeName")})
    return {
        "accessToken": result["AccessToken"],
        "idToken": result["IdToken"],
        "refreshToken": result.get("RefreshToken"),
        "expiresIn": result["ExpiresIn"],
        "tokenType": result.get("TokenType", "Bearer"),
    }
