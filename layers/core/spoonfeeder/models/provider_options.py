"""What a task may ask of one provider only (`provider_options`): one model per provider.

Every provider has its own model, so an option reaches a provider only when it is known to it, in range:
nothing is passed through blindly (unknown fields are refused with 400 when the task is created).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints


class _Options(BaseModel):
    model_config = ConfigDict(extra="forbid")


class OpenAIOptions(_Options):
    """OpenAI Chat Completions parameters that have no neutral counterpart."""

    frequency_penalty: float | None = Field(default=None, ge=-2, le=2, allow_inf_nan=False)
    presence_penalty: float | None = Field(default=None, ge=-2, le=2, allow_inf_nan=False)
    # Token id → bias; OpenAI accepts at most 300 entries in -100..100.
    logit_bias: dict[Annotated[str, StringConstraints(pattern=r"^\d{1,7}$")],
                     Annotated[int, Field(ge=-100, le=100)]] | None = Field(default=None, max_length=300)
    user: str | None = Field(default=None, min_length=1, max_length=256)


class AnthropicMetadata(_Options):
    user_id: str = Field(min_length=1, max_length=256)


class AnthropicThinking(_Options):
    """Extended thinking: `enabled` with a token budget (below the task's max_tokens), `adaptive` (the model
    decides), or `disabled`."""

    type: Literal["enabled", "adaptive", "disabled"]
    budget_tokens: int | None = Field(default=None, ge=1024, le=128_000)
    display: Literal["summarized", "omitted"] | None = None


class AnthropicOptions(_Options):
    """Anthropic Messages parameters that have no neutral counterpart. (Anthropic's current API has no sampling
    parameters: temperature, top_p, top_k and seed are refused for it.)"""

    metadata: AnthropicMetadata | None = None
    thinking: AnthropicThinking | None = None
    effort: Literal["low", "medium", "high", "xhigh", "max"] | None = None


HarmCategory = Literal["HARM_CATEGORY_HARASSMENT", "HARM_CATEGORY_HATE_SPEECH", "HARM_CATEGORY_SEXUALLY_EXPLICIT",
                       "HARM_CATEGORY_DANGEROUS_CONTENT", "HARM_CATEGORY_CIVIC_INTEGRITY"]
HarmThreshold = Literal["BLOCK_LOW_AND_ABOVE", "BLOCK_MEDIUM_AND_ABOVE", "BLOCK_ONLY_HIGH", "BLOCK_NONE", "OFF"]


class GeminiSafetySetting(_Options):
    category: HarmCategory
    threshold: HarmThreshold


class GeminiOptions(_Options):
    """Gemini generation-config fields that have no neutral counterpart."""

    top_k: int | None = Field(default=None, ge=1, le=500)
    presence_penalty: float | None = Field(default=None, ge=-2, lt=2, allow_inf_nan=False)
    frequency_penalty: float | None = Field(default=None, ge=-2, lt=2, allow_inf_nan=False)
    safety_settings: list[GeminiSafetySetting] | None = Field(default=None, max_length=5)


#: Ollama's `keep_alive`: a Go duration ("5m", "1h30m", "-1s" keeps the model loaded for ever).
OLLAMA_DURATION = r"^-?(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$"
#: Or seconds as a number (0 unloads right after the answer, a negative number keeps it for ever).
KeepAlive = Annotated[str, StringConstraints(pattern=OLLAMA_DURATION, max_length=32)] | Annotated[
    int, Field(ge=-1, le=366 * 24 * 3600)]


class OllamaOptions(_Options):
    """Ollama's own options (its Modelfile parameters), sent under their Ollama names; `keep_alive` and `think`
    are top-level fields of the request. The neutral options map to Ollama's (max_tokens is num_predict)."""

    num_ctx: int | None = Field(default=None, ge=1, le=1_048_576, description="Context window, in tokens")
    num_keep: int | None = Field(default=None, ge=-1, le=1_048_576)
    top_k: int | None = Field(default=None, ge=1, le=1000)
    min_p: float | None = Field(default=None, ge=0, le=1, allow_inf_nan=False)
    typical_p: float | None = Field(default=None, gt=0, le=1, allow_inf_nan=False)
    repeat_penalty: float | None = Field(default=None, ge=0, le=10, allow_inf_nan=False)
    repeat_last_n: int | None = Field(default=None, ge=-1, le=1_048_576)
    presence_penalty: float | None = Field(default=None, ge=-2, le=2, allow_inf_nan=False)
    frequency_penalty: float | None = Field(default=None, ge=-2, le=2, allow_inf_nan=False)
    mirostat: Literal[0, 1, 2] | None = None
    mirostat_tau: float | None = Field(default=None, ge=0, le=100, allow_inf_nan=False)
    mirostat_eta: float | None = Field(default=None, ge=0, le=1, allow_inf_nan=False)
    num_gpu: int | None = Field(default=None, ge=-1, le=1000, description="Layers to put on the GPU(s)")
    num_thread: int | None = Field(default=None, ge=1, le=1024)
    keep_alive: KeepAlive | None = Field(
        default=None, description="How long the model stays loaded after the task: a duration (\"5m\") or seconds")
    think: bool | Literal["low", "medium", "high"] | None = Field(
        default=None, description="Thinking models: think first (true, or an effort level)")


# Keyed by provider name (models/kinds.Provider is a str enum, so its members find these). The neutral options a
# provider lacks are models/kinds.UNSUPPORTED (the workers read it too, without pydantic).
OPTIONS_OF: dict[str, type[_Options]] = {"openai": OpenAIOptions, "anthropic": AnthropicOptions,
                                         "gemini": GeminiOptions, "ollama": OllamaOptions}
