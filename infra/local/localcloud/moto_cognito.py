"""Cognito as AWS answers it, applied inside the local moto server process only.

moto 5.2 stores a pool's ``AdminCreateUserConfig`` but lets ``SignUp`` through whatever it says. AWS refuses
self sign-up on a pool with ``AllowAdminCreateUserOnly`` (the template's default) with NotAuthorizedException;
so does the local cloud now, so a test can show sign-up is closed.
"""

from __future__ import annotations

from typing import Any

#: AWS's own wording for the refusal.
SIGN_UP_REFUSED = ("SignUp is not permitted for this user pool. "
                   "Signup can only be performed by an administrator.")


def apply() -> None:
    from moto.cognitoidp.exceptions import NotAuthorizedError
    from moto.cognitoidp.models import CognitoIdpBackend

    sign_up = CognitoIdpBackend.sign_up

    def sign_up_if_allowed(self: CognitoIdpBackend, client_id: str, username: str, password: str,
                           attributes: list[dict[str, str]]) -> Any:
        pool = next((p for p in self.user_pools.values() if client_id in p.clients), None)
        admin_only = ((pool.extended_config.get("AdminCreateUserConfig") or {}).get("AllowAdminCreateUserOnly")
                      if pool is not None else False)
        if admin_only is True or str(admin_only).lower() == "true":
            raise NotAuthorizedError(SIGN_UP_REFUSED)
        return sign_up(self, client_id, username, password, attributes)

    CognitoIdpBackend.sign_up = sign_up_if_allowed  # type: ignore[method-assign]
