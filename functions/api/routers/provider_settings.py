"""/api/settings: the caller's own key, endpoint and default model per cloud provider, and a connection test.

Keys are write-only: every answer shows `api_key_masked` ("…" and the last 4 characters), never the key.
"""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body, Path
from pydantic import BaseModel, ConfigDict
from spoonfeeder import web
from spoonfeeder.models.envelope import Envelope
from spoonfeeder.models.provider_setting_api import ProviderSettingUpdate, ProviderSettingView
from spoonfeeder.models.provider_settings import KeyedProvider

from routers.deps import provider_settings

router = Router()

# A name that is not a provider answers 400; a path segment the router cannot match at all answers 404.
ProviderName = Annotated[KeyedProvider, Path(description="A cloud provider (Ollama and ComfyUI take no key)")]


class SettingDeleted(BaseModel):
    model_config = ConfigDict(extra="forbid")

    provider: KeyedProvider
    deleted: bool


@router.get("/", summary="My settings of every cloud provider (keys masked)",
            **web.contract(Envelope[list[ProviderSettingView]], "One entry per cloud provider, set or not"))
def list_settings() -> Response[Envelope[list[ProviderSettingView]]]:
    return web.ok(router, provider_settings().list(web.caller(router)))


@router.get("/<provider>", summary="My settings of one provider (key masked)",
            **web.contract(Envelope[ProviderSettingView], "The provider's settings (empty if never set)", 400, 404))
def get_setting(provider: ProviderName) -> Response[Envelope[ProviderSettingView]]:
    return web.ok(router, provider_settings().get(web.caller(router), provider))


@router.put("/<provider>", summary="Set my key, endpoint or default model for a provider",
            description="Fields left out keep their value; null removes one (without a key of your own, tasks "
                        "use the operator's default key, and your endpoint_url is not used). A new key or endpoint "
                        "makes the status `untested`. 400 ENDPOINT_NOT_ALLOWED for an endpoint that is not https "
                        "or whose host is not public.",
            **web.contract(Envelope[ProviderSettingView], "The settings as stored (key masked)", 404, body=True))
def put_setting(provider: ProviderName,
                body: Annotated[ProviderSettingUpdate, Body()]) -> Response[Envelope[ProviderSettingView]]:
    return web.ok(router, provider_settings().put(web.caller(router), provider, body))


@router.delete("/<provider>", summary="Remove my settings of a provider (its tasks use the operator default)",
               **web.contract(Envelope[SettingDeleted], "The settings are gone", 400, 404))
def delete_setting(provider: ProviderName) -> Response[Envelope[SettingDeleted]]:
    provider_settings().delete(web.caller(router), provider)
    return web.ok(router, SettingDeleted(provider=provider, deleted=True))


@router.post("/<provider>/test", summary="Test the key a task of this provider would use (lists the models)",
             description="A real, cheap call with your key (else the operator default). Records `status` "
                         "(connected or error), `last_tested` and the error's code and message, and answers the "
                         "settings. 409 SETTING_CHANGED when they changed during the test.",
             **web.contract(Envelope[ProviderSettingView], "The settings with the test's outcome", 400, 404, 409, 422))
def test_setting(provider: ProviderName) -> Response[Envelope[ProviderSettingView]]:
    return web.ok(router, provider_settings().test(web.caller(router), provider))
