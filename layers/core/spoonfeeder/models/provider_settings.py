"""A user's own settings for one cloud provider, as stored. What the API takes and shows is in
provider_setting_api.py (pydantic, for the API function only)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal

from spoonfeeder.models.kinds import Provider


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
