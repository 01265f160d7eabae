"""Every model the API shows, merged from its sources: today the catalog file; the GPU agents' reported
models join as another source. Pages are keyed by model id, so they stay stable while sources change."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from spoonfeeder.errors import NotFound
from spoonfeeder.models.catalog import Capability, ModelInfo

#: A source of models: called on each listing, so a source that changes (agents) is always current.
ModelSource = Callable[[], Iterable[ModelInfo]]


@dataclass(frozen=True)
class ModelDirectory:
    sources: Sequence[ModelSource]

    def _merged(self) -> list[ModelInfo]:
        """All models by id; when two sources know the same id, the earlier source's entry is kept."""
        merged: dict[str, ModelInfo] = {}
        for source in self.sources:
            for model in source():
                merged.setdefault(model.id, model)
        return [merged[model_id] for model_id in sorted(merged)]

    def page(self, *, provider: str | None = None, capability: Capability | None = None,
             after: str | None = None, limit: int = 100) -> tuple[list[ModelInfo], str | None]:
        """Models in id order after the id `after`, filtered; the page and the id to continue after."""
        matching = [m for m in self._merged()
                    if (provider is None or m.provider == provider)
                    and (capability is None or capability in m.capabilities)
                    and (after is None or m.id > after)]
        page = matching[:limit]
        return page, page[-1].id if len(matching) > limit else None

    def get(self, provider: str, name: str) -> ModelInfo:
        wanted = f"{provider}/{name}"
        for model in self._merged():
            if model.id == wanted:
                return model
        raise NotFound(f"no model {wanted}", code="MODEL_NOT_FOUND", details={"id": wanted})
