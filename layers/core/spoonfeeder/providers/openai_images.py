"""OpenAI image generation (`images.generate`) on the official `openai` SDK, imported only when used.

Images come back base64-encoded in the answer (gpt-image models always answer so; dall-e models are asked to,
rather than for a URL on OpenAI's side that expires within the hour); they are decoded here, so nothing
above this module ever holds base64.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from spoonfeeder.providers.base import Credentials, ErrorCode, ProviderError, sdk_errors
from spoonfeeder.providers.openai_adapter import map_error, new_client

if TYPE_CHECKING:
    import openai


@dataclass(frozen=True)
class ImageRequest:
    model: str
    prompt: str
    parameters: dict[str, Any]  # size, quality, n, background: only those given


@dataclass
class GeneratedImages:
    images: list[bytes]
    usage: dict[str, int] | None = None
    revised_prompt: str | None = None


def _asks_for_base64(model: str) -> bool:
    """gpt-image models answer base64 only and refuse `response_format`; dall-e models default to URLs."""
    return not model.startswith("gpt-image")


class OpenAIImages:
    def __init__(self, credentials: Credentials, *, timeout: float) -> None:
        self._client: openai.OpenAI = new_client(credentials, timeout=timeout)

    def generate(self, request: ImageRequest) -> GeneratedImages:
        params: dict[str, Any] = {"model": request.model, "prompt": request.prompt, **request.parameters}
        if _asks_for_base64(request.model):
            params["response_format"] = "b64_json"
        with sdk_errors(map_error):
            answer = self._client.images.generate(**params)
        items = answer.data or []
        if not items or any(not item.b64_json for item in items):
            raise ProviderError.of(ErrorCode.PROVIDER_UNAVAILABLE, provider_message="an answer without image data")
        try:
            images = [base64.b64decode(item.b64_json or "", validate=True) for item in items]
        except (binascii.Error, ValueError):
            raise ProviderError.of(ErrorCode.PROVIDER_UNAVAILABLE,
                                   provider_message="image data that is not base64") from None
        usage = answer.usage.model_dump(include={"input_tokens", "output_tokens", "total_tokens"}) \
            if answer.usage else None
        return GeneratedImages(images, usage, items[0].revised_prompt)
