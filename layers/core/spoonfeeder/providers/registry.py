"""Provider name → adapter, imported on first use so a worker loads only the SDK it needs."""

from __future__ import annotations

import importlib

from spoonfeeder.models.tasks import Provider
from spoonfeeder.providers.base import Credentials, TextProvider

_ADAPTERS = {
    Provider.OPENAI: ("spoonfeeder.providers.openai_adapter", "OpenAIProvider"),
}
#: What a worker's first task of each provider imports (its adapter, and the SDK the adapter loads when used),
#: for a warm-up that imports them ahead of time (SnapStart).
PRELOAD_MODULES = (*(module for module, _ in _ADAPTERS.values()), "openai")


def text_provider(provider: Provider, credentials: Credentials, *, timeout: float) -> TextProvider:
    module_name, class_name = _ADAPTERS[provider]
    adapter = getattr(importlib.import_module(module_name), class_name)
    return adapter(credentials, timeout=timeout)  # type: ignore[no-any-return]
