"""The model catalog: one data file (`models.json`, shipped in the core layer) read on first use and cached.

Nothing is read at import, not even the models that validate the file, so no function pays for the
catalog at cold start; the first lookup of a process reads and validates it once.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from spoonfeeder.models.catalog import CatalogFile, ModelInfo

CATALOG_FILE = Path(__file__).with_name("models.json")


@cache
def _catalog() -> CatalogFile:
    from spoonfeeder.models.catalog import CatalogFile

    return CatalogFile.model_validate(json.loads(CATALOG_FILE.read_text(encoding="utf-8")))


@cache
def _by_key() -> dict[tuple[str, str], ModelInfo]:
    return {(str(m.provider), m.name): m for m in _catalog().models}


def cloud_models() -> tuple[ModelInfo, ...]:
    """Every model of the catalog file, in file order."""
    return tuple(_catalog().models)


def lookup(provider: str, name: str) -> ModelInfo | None:
    """The catalog's entry for a provider's model, or None for a model it does not list (which still runs)."""
    return _by_key().get((str(provider), name))


def default_max_tokens(provider: str, model: str) -> int | None:
    """The max_tokens to send when a task sets none: the model's, else its provider's (None: let the provider
    decide; Anthropic always gets a number, as its API requires one)."""
    info = lookup(provider, model)
    if info is not None and info.default_max_tokens is not None:
        return info.default_max_tokens
    defaults = _catalog().providers.get(provider)  # type: ignore[call-overload]
    return defaults.default_max_tokens if defaults else None
