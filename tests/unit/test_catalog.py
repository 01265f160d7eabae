"""The model catalog data file, its look-ups, and the cost of a task from its usage."""

from __future__ import annotations

import copy
import json
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest
from pydantic import ValidationError
from spoonfeeder import catalog
from spoonfeeder.catalog import pricing
from spoonfeeder.catalog.directory import ModelDirectory
from spoonfeeder.catalog.money import to_micros
from spoonfeeder.errors import NotFound
from spoonfeeder.models.catalog import Capability, CatalogFile, ModelInfo

RAW = json.loads(catalog.CATALOG_FILE.read_text(encoding="utf-8"))
REQUIRED = {
    "openai": ["gpt-4o", "gpt-4o-mini", "gpt-4.1", "gpt-4.1-mini", "gpt-4.1-nano", "o4-mini", "gpt-image-1",
               "dall-e-3", "dall-e-2"],
    "anthropic": ["claude-opus-4-1", "claude-sonnet-4-5", "claude-haiku-4-5", "claude-3-5-haiku-latest"],
    "gemini": ["gemini-2.5-pro", "gemini-2.5-flash", "gemini-2.5-flash-lite", "gemini-2.0-flash"],
}


def test_the_catalog_file_is_valid_and_lists_every_cloud_model() -> None:
    parsed = CatalogFile.model_validate(RAW)
    ids = {m.id for m in parsed.models}
    assert {f"{p}/{n}" for p, names in REQUIRED.items() for n in names} <= ids
    for model in parsed.models:
        assert model.id == f"{model.provider}/{model.name}"
        assert model.price is not None, model.id
        if Capability.TEXT in model.capabilities:  # text models are billed by tokens and have their limits
            assert model.price.input_per_million is not None and model.context_length and model.max_output_tokens
            assert model.temperature is not None
        if model.provider == "anthropic":  # the Messages API needs max_tokens on every call
            assert model.default_max_tokens is not None


def _with(change: Any) -> dict[str, Any]:
    raw = copy.deepcopy(RAW)
    change(raw)
    return raw


@pytest.mark.parametrize("change", [
    pytest.param(lambda raw: raw["models"].append(raw["models"][0]), id="a model twice"),
    pytest.param(lambda raw: raw["models"][0]["price"].pop("output_per_million"), id="half a token price"),
    pytest.param(lambda raw: raw["models"][0].update(capabilities=["text", "telepathy"]), id="unknown capability"),
    pytest.param(lambda raw: raw["models"][0].update(capabilities=[]), id="no capability"),
    pytest.param(lambda raw: raw["models"][0].update(default_max_tokens=10**9), id="default over the max"),
    pytest.param(lambda raw: raw["models"][0].update(temperature={"min": 2, "max": 1}), id="temperature upside down"),
    pytest.param(lambda raw: raw["models"][0].update(id="openai/other"), id="id not provider/name"),
    pytest.param(lambda raw: raw["models"][0].update(provider="acme"), id="unknown provider"),
    pytest.param(lambda raw: raw["models"][0].update(price_in=1), id="unknown field"),
    pytest.param(lambda raw: raw["models"][0].update(price={"input_per_million": -1, "output_per_million": 1}),
                 id="negative price"),
])
def test_the_schema_check_refuses_a_broken_file(change: Any) -> None:
    with pytest.raises(ValidationError):
        CatalogFile.model_validate(_with(change))


def test_lookup_and_default_max_tokens() -> None:
    sonnet = catalog.lookup("anthropic", "claude-sonnet-4-5")
    assert sonnet is not None and sonnet.display_name == "Claude Sonnet 4.5"
    assert catalog.lookup("openai", "claude-sonnet-4-5") is None  # a name is only known under its provider
    assert catalog.lookup("openai", "my-fine-tune") is None
    assert catalog.default_max_tokens("anthropic", "claude-sonnet-4-5") == sonnet.default_max_tokens
    # A model the catalog does not list still gets a number from Anthropic's provider defaults...
    assert catalog.default_max_tokens("anthropic", "claude-next") == RAW["providers"]["anthropic"]["default_max_tokens"]
    # ... while OpenAI's and Gemini's own defaults apply (nothing is sent).
    assert catalog.default_max_tokens("openai", "gpt-4o") is None
    assert catalog.default_max_tokens("gemini", "gemini-2.5-flash") is None


def _listed_price(provider: str, name: str) -> dict[str, Any]:
    return next(m["price"] for m in RAW["models"] if m["provider"] == provider and m["name"] == name)


@pytest.mark.parametrize(("provider", "name"), [(p, n) for p, names in REQUIRED.items() for n in names
                                                if not n.startswith("dall-e")])
def test_cost_follows_the_list_price(provider: str, name: str) -> None:
    price = _listed_price(provider, name)
    usage = {"input_tokens": 123_457, "output_tokens": 9_876, "total_tokens": 133_333}
    expected = (Decimal(str(price["input_per_million"])) * 123_457
                + Decimal(str(price["output_per_million"])) * 9_876) / 1_000_000
    assert pricing.cost_usd(provider, name, usage) == float(expected.quantize(Decimal("0.000001"), ROUND_HALF_UP))


def test_cost_is_rounded_to_the_micro_dollar() -> None:
    # 7 input tokens of gpt-4o-mini at $0.15 per million cost $0.00000105: half a micro-dollar rounds up.
    assert pricing.cost_usd("openai", "gpt-4o-mini", {"input_tokens": 7, "output_tokens": 0}) == 0.000001
    assert pricing.cost_usd("openai", "gpt-4o-mini", {"input_tokens": 3, "output_tokens": 0}) == 0.0


def test_long_prompts_pay_the_long_context_rate() -> None:
    tier = _listed_price("gemini", "gemini-2.5-pro")["long_context"]
    small = pricing.cost_usd("gemini", "gemini-2.5-pro", {"input_tokens": tier["above_input_tokens"],
                                                          "output_tokens": 0})
    large = pricing.cost_usd("gemini", "gemini-2.5-pro", {"input_tokens": tier["above_input_tokens"] + 1,
                                                          "output_tokens": 0})
    assert small is not None and large is not None
    assert large == pytest.approx((tier["above_input_tokens"] + 1) * tier["input_per_million"] / 1e6)
    assert large > small * 1.5


def test_no_cost_without_a_known_price_or_usage() -> None:
    usage = {"input_tokens": 10, "output_tokens": 10}
    assert pricing.cost_usd("openai", "my-fine-tune", usage) is None
    assert pricing.cost_usd("openai", "gpt-4o", None) is None
    assert pricing.cost_usd("openai", "dall-e-3", usage) is None  # billed per image, not by tokens


def test_images_billed_per_picture() -> None:
    per_image = _listed_price("openai", "dall-e-3")["per_image"]
    assert pricing.image_cost_usd("openai", "dall-e-3", quality="hd", size="1792x1024", n=3) == pytest.approx(
        3 * per_image["hd"]["1792x1024"])
    assert pricing.image_cost_usd("openai", "dall-e-3", quality="hd", size="64x64") is None
    assert pricing.image_cost_usd("openai", "gpt-4o", quality="hd", size="1024x1024") is None


def test_micro_dollars_are_exact_integers() -> None:
    assert to_micros(0.000802) == 802
    assert to_micros(12.345678) == 12_345_678
    assert sum(map(to_micros, [0.1] * 10)) == 1_000_000  # no float drift when summed


def _model(provider: str, name: str, *capabilities: str) -> ModelInfo:
    return ModelInfo.model_validate({"provider": provider, "name": name, "display_name": name,
                                     "capabilities": list(capabilities) or ["text"]})


def test_the_directory_merges_sources_and_pages_by_id() -> None:
    agent_models = [_model("ollama", "library/llama3:8b"), _model("openai", "gpt-4o", "chat")]
    directory = ModelDirectory([catalog.cloud_models, lambda: agent_models])
    everything, cursor = directory.page(limit=1000)
    assert cursor is None and [m.id for m in everything] == sorted(m.id for m in everything)
    assert len(everything) == len(RAW["models"]) + 1  # the second source's gpt-4o does not replace the catalog's
    assert directory.get("openai", "gpt-4o") == catalog.lookup("openai", "gpt-4o")
    assert directory.get("ollama", "library/llama3:8b").id == "ollama/library/llama3:8b"
    with pytest.raises(NotFound):
        directory.get("ollama", "library")

    walked, after = [], None
    while True:
        page, after = directory.page(capability=Capability.VISION, after=after, limit=4)
        walked += page
        if after is None:
            break
    assert [m.id for m in walked] == [m.id for m in everything if Capability.VISION in m.capabilities]
    assert {m.provider for m in directory.page(provider="gemini")[0]} == {"gemini"}
