"""Image tasks: what each known model accepts. (The parameters a request may give are the API's
`models/tasks.ImageOptions`; the outputs of a run are `models/task_record.TaskOutput`.)"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from spoonfeeder.models.tasks import ImageOptions

DEFAULT_IMAGE_MODEL = "gpt-image-1"
MAX_IMAGES = 10  # OpenAI's own bound on `n`, for every model that takes more than one


@dataclass(frozen=True)
class ImageModelRules:
    """What one model accepts (OpenAI's documented values); None means the model has no such parameter."""

    sizes: frozenset[str]
    qualities: frozenset[str] | None
    backgrounds: frozenset[str] | None
    max_n: int


_GPT_IMAGE = ImageModelRules(
    sizes=frozenset({"1024x1024", "1536x1024", "1024x1536", "auto"}),
    qualities=frozenset({"low", "medium", "high", "auto"}),
    backgrounds=frozenset({"transparent", "opaque", "auto"}), max_n=MAX_IMAGES)

IMAGE_MODELS: dict[str, ImageModelRules] = {
    "gpt-image-1": _GPT_IMAGE,
    "gpt-image-1-mini": _GPT_IMAGE,
    "dall-e-3": ImageModelRules(sizes=frozenset({"1024x1024", "1792x1024", "1024x1792"}),
                                qualities=frozenset({"standard", "hd"}), backgrounds=None, max_n=1),
    "dall-e-2": ImageModelRules(sizes=frozenset({"256x256", "512x512", "1024x1024"}),
                                qualities=None, backgrounds=None, max_n=MAX_IMAGES),
}


def image_problems(model: str, options: ImageOptions) -> list[str]:
    """Why `options` do not fit `model` (empty when they do). A model not listed is left to the provider,
    whose own limits then apply (it answers BAD_REQUEST)."""
    rules = IMAGE_MODELS.get(model)
    if rules is None:
        return []
    problems = []

    def check(name: str, value: str | None, allowed: frozenset[str] | None) -> None:
        if value is None:
            return
        if allowed is None:
            problems.append(f"{model} takes no image.{name}")
        elif value not in allowed:
            problems.append(f"{model} takes image.{name} {' | '.join(sorted(allowed))}, not {value!r}")

    check("size", options.size, rules.sizes)
    check("quality", options.quality, rules.qualities)
    check("background", options.background, rules.backgrounds)
    if options.n is not None and options.n > rules.max_n:
        problems.append(f"{model} makes at most {rules.max_n} image(s) per request, not {options.n}")
    return problems


def image_snapshot(options: ImageOptions | None) -> dict[str, Any]:
    """The image parameters as the request snapshot records them (only what was given)."""
    return options.model_dump(exclude_none=True) if options else {}
