"""A user's own settings for one cloud provider: as stored, as changed (PUT), and as shown (keys masked)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from spoonfeeder.models.tasks import Provider


class KeyedProvider(StrEnum):
    """The providers a user can give a key for: the cloud ones. Ollama and ComfyUI run on the GPU agents and
    take no key, so they have no settings."""

    OPENAI = Provider.OPENAI.value
    ANTHROPIC = Provider.ANTHROPIC.value
    GEMINI = Provider.GEMINI.value


def keyed(provider: str) -> KeyedProvider | None:
    """The provider as one that takes a user's key, or None (Ollama, ComfyUI)."""
    try:
        return KeyedProvider(provider)
    except ValueError:
        return None


class ConnectionStatus(StrEnum):
    UNTESTED = "untested"  # never tested, or the key or endpoint changed since
    CONNECTED = "connected"
    ERROR = "error"


#: Where a task's key comes from: the user's own, the operator's default, or nowhere (tasks fail).
KeySource = Literal["user", "operator", "none"]

API_KEY_MAX_CHARS = 512
ERROR_MESSAGE_MAX_CHARS = 300


def masked(last4: str | None) -> str | None:
    return f"…{last4}" if last4 else None


@dataclass
class StoredSetting:
    """One item `OWNER#{owner}` / `SETTING#{provider}`. The key is kept only as KMS ciphertext (encryption
    context {owner, provider}) and its last four characters."""

    owner: str
    provider: KeyedProvider
    api_key_ciphertext: bytes | None = field(default=None, repr=False)
    api_key_last4: str | None = None
    endpoint_url: str | None = None
    default_model: str | None = None
    status: ConnectionStatus = ConnectionStatus.UNTESTED
    last_tested: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    created_at: str | None = None
    updated_at: str | None = None


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
