"""Provider name → adapter, imported on first use so a worker loads only the SDK it needs."""

from __future__ import annotations

import importlib

from spoonfeeder.models.kinds import Provider
from spoonfeeder.providers.base import Credentials, TextProvider

#: Each cloud provider's adapter (module, class) and the SDK module that adapter imports when first used.
_ADAPTERS = {
    Provider.OPENAI: ("spoonfeeder.providers.openai_adapter", "OpenAIProvider", "openai"),
    Provider.ANTHROPIC: ("spoonfeeder.providers.anthropic_adapter", "AnthropicProvider", "anthropic"),
    Provider.GEMINI: ("spoonfeeder.providers.gemini_adapter", "GeminiProvider", "google.genai"),
}
#: What a worker's first task of each provider imports (its adapter, and the SDK the adapter loads when used),
#: for a warm-up that imports them ahead of time (SnapStart). Without that warm-up nothing here is imported
#: until a task of that provider runs.
PRELOAD_MODULES = (*(module for adapter, _, sdk in _ADAPTERS.values() for module in (adapter, sdk)),
                   "spoonfeeder.tasks.images")  # image tasks' run (OpenAI images)


def text_provider(provider: Provider, credentials: Credentials, *, timeout: float) -> TextProvider:
    module_name, class_name, _ = _ADAPTERS[provider]
    adapter = getattr(importlib.import_module(module_name), class_name)
    return adapter(credentials, timeout=timeout)  # type: ignore[no-any-return]
