"""The model catalog's entries (seed 003): what a model can do, its limits and its list prices.

The same models validate the catalog data file and shape GET /api/models answers, so the file cannot hold
an entry the API could not show.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from spoonfeeder.models.agents import OllamaPlacement
from spoonfeeder.models.kinds import Provider

_STRICT = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class Capability(StrEnum):
    TEXT = "text"
    CHAT = "chat"
    VISION = "vision"
    IMAGE = "image"
    JSON = "json"


class TemperatureRange(BaseModel):
    model_config = _STRICT

    min: float = Field(ge=0)
    max: float = Field(ge=0)

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.min > self.max:
            raise ValueError("temperature min is above max")
        return self


class LongContextPrice(BaseModel):
    """A higher rate for the whole request once its input passes a size (Gemini 2.5 Pro above 200k tokens)."""

    model_config = _STRICT

    above_input_tokens: int = Field(gt=0)
    input_per_million: float = Field(ge=0)
    output_per_million: float = Field(ge=0)


class Price(BaseModel):
    """List prices in USD: per million input and output tokens, and/or per image by quality and size for the
    image models billed per picture (DALL·E). A model billed by tokens for its images (gpt-image-1, whose
    answer reports image tokens) has token prices only."""

    model_config = _STRICT

    input_per_million: float | None = Field(default=None, ge=0)
    output_per_million: float | None = Field(default=None, ge=0)
    long_context: LongContextPrice | None = None
    per_image: dict[str, dict[str, float]] | None = Field(
        default=None, description="USD per image: quality -> size (e.g. 1024x1024) -> price")

    @model_validator(mode="after")
    def _complete(self) -> Self:
        if (self.input_per_million is None) != (self.output_per_million is None):
            raise ValueError("input and output token prices come together")
        if self.input_per_million is None and not self.per_image:
            raise ValueError("a price needs token prices or per-image prices")
        if any(p < 0 for sizes in (self.per_image or {}).values() for p in sizes.values()):
            raise ValueError("per-image prices are not negative")
        return self


class ModelInfo(BaseModel):
    """One model. `id` is `{provider}/{name}` (names may hold ':' and '/', e.g. Ollama's `library/llama3:8b`)."""

    model_config = _STRICT

    id: str = Field(description="{provider}/{name}")
    provider: Provider
    name: str = Field(min_length=1, max_length=200)
    display_name: str
    capabilities: list[Capability] = Field(min_length=1)
    context_length: int | None = Field(default=None, gt=0, description="Input and output tokens together")
    max_output_tokens: int | None = Field(default=None, gt=0)
    default_max_tokens: int | None = Field(
        default=None, gt=0, description="What a task asks for when it sets no max_tokens (Anthropic needs one)")
    temperature: TemperatureRange | None = Field(default=None, description="null: not adjustable")
    price: Price | None = Field(default=None, description="null: no known price, so tasks have no cost")
    ollama: OllamaPlacement | None = Field(
        default=None, description="Ollama models (reported by the live GPU agents): where each is installed and "
                                  "loaded; null for cloud models")

    @model_validator(mode="before")
    @classmethod
    def _id_from_name(cls, data: Any) -> Any:
        if isinstance(data, dict) and "id" not in data and "provider" in data and "name" in data:
            return {**data, "id": f"{data['provider']}/{data['name']}"}
        return data

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.id != f"{self.provider}/{self.name}":
            raise ValueError(f"id {self.id!r} is not {self.provider}/{self.name}")
        if len(set(self.capabilities)) != len(self.capabilities):
            raise ValueError("capabilities repeat")
        if self.default_max_tokens and self.max_output_tokens and self.default_max_tokens > self.max_output_tokens:
            raise ValueError("default_max_tokens is above max_output_tokens")
        return self


class ProviderDefaults(BaseModel):
    """What applies to a provider's models the catalog does not list."""

    model_config = _STRICT

    default_max_tokens: int | None = Field(default=None, gt=0)


class CatalogFile(BaseModel):
    """The catalog data file (spoonfeeder/catalog/models.json)."""

    model_config = _STRICT

    about: str
    providers: dict[Provider, ProviderDefaults]
    models: list[ModelInfo]

    @model_validator(mode="after")
    def _unique(self) -> Self:
        ids = [m.id for m in self.models]
        repeated = sorted({i for i in ids if ids.count(i) > 1})
        if repeated:
            raise ValueError(f"models listed twice: {repeated}")
        return self
