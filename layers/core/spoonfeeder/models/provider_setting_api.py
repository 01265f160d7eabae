"""A user's provider settings at the HTTP boundary: the body of PUT and the view every answer shows (keys masked)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from spoonfeeder.models.provider_settings import (
    API_KEY_MAX_CHARS,
    ConnectionStatus,
    KeyedProvider,
    KeySource,
    StoredSetting,
    masked,
)


class ProviderSettingUpdate(BaseModel):
    """Body of PUT /api/settings/{provider}. A field left out keeps its stored value; null removes it (a
    removed api_key means the operator's default key is used, if there is one)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"api_key": "sk-...", "default_model": "gpt-4o-mini"}]})

    api_key: str | None = Field(
        default=None, min_length=8, max_length=API_KEY_MAX_CHARS, pattern=r"^[!-~]+$",
        description="The provider's API key: printable ASCII, no spaces. Stored encrypted, never shown again "
                    "(answers show `api_key_masked`).")
    endpoint_url: str | None = Field(
        default=None, min_length=8, max_length=2048,
        description="Base URL of an OpenAI-compatible (or the provider's own) API, used with your own key only. "
                    "https, and a host with public addresses: private, loopback, link-local and metadata "
                    "addresses are refused.")
    default_model: str | None = Field(
        default=None, min_length=1, max_length=200, pattern=r"^[!-~]+$",
        description="The model a task of this provider runs when it names none.")


class ProviderSettingView(BaseModel):
    """A provider's settings as their owner sees them: never the key, only its last four characters."""

    provider: KeyedProvider
    api_key_masked: str | None = Field(description="\"…\" and the key's last 4 characters; null without a key")
    endpoint_url: str | None
    default_model: str | None
    status: ConnectionStatus
    last_tested: str | None
    error_code: str | None = Field(description="The last test's error code (e.g. INVALID_API_KEY)")
    error_message: str | None
    source: KeySource = Field(description="Whose key a task of this provider would use: the user's own, the "
                                          "operator's default, or none (such tasks fail)")
    created_at: str | None
    updated_at: str | None

    @classmethod
    def of(cls, setting: StoredSetting, source: KeySource) -> ProviderSettingView:
        return cls(provider=setting.provider, api_key_masked=masked(setting.api_key_last4),
                   endpoint_url=setting.endpoint_url, default_model=setting.default_model, status=setting.status,
                   last_tested=setting.last_tested, error_code=setting.error_code,
                   error_message=setting.error_message, source=source, created_at=setting.created_at,
                   updated_at=setting.updated_at)
