"""Presets ("profiles" in the seeds): saved settings for tasks, with a prompt template and a fallback chain."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_serializer

from spoonfeeder.models.kinds import Provider, TaskType
from spoonfeeder.models.tasks import TextOptions

MAX_TEMPLATE_BYTES = 32 * 1024  # UTF-8 bytes, so a preset item stays far below DynamoDB's 400 KB
MAX_FALLBACKS = 5


def _at_most_bytes(limit: int) -> AfterValidator:
    def check(text: str) -> str:
        if len(text.encode("utf-8", "surrogatepass")) > limit:
            raise ValueError(f"at most {limit} bytes of UTF-8")
        return text
    return AfterValidator(check)


Template = Annotated[str, Field(min_length=1), _at_most_bytes(MAX_TEMPLATE_BYTES)]
ModelName = Annotated[str, Field(min_length=1, max_length=200)]


class ProviderModel(BaseModel):
    """One provider/model pair of a fallback chain."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    provider: Provider
    model: ModelName


class ProfileFields(BaseModel):
    """Body of POST /api/profiles and PUT /api/profiles/{id}: what a preset holds.

    `prompt_template` and `system` may hold `{name}` placeholders (plain identifiers; `{{` and `}}` are
    literal braces), filled by the task's `variables`. `fallbacks` are tried in order when the preset's own
    provider/model has exhausted its retries."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "name": "Summary", "type": "text", "provider": "openai", "model": "gpt-4o-mini",
        "options": {"temperature": 0.2}, "prompt_template": "Summarise in {words} words: {text}",
        "fallbacks": [{"provider": "openai", "model": "gpt-4.1-mini"}]}]})

    name: str = Field(min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=2000)
    type: TaskType
    provider: Provider
    model: ModelName | None = None
    options: TextOptions = Field(default_factory=TextOptions)
    prompt_template: Template
    system: Template | None = None
    fallbacks: list[ProviderModel] = Field(default_factory=list, max_length=MAX_FALLBACKS)

    @field_serializer("options")
    def _options_given(self, options: TextOptions) -> dict[str, Any]:
        return options.model_dump(exclude_none=True)  # as a task's snapshot shows them: only those set


class ProfileView(ProfileFields):
    """A preset as the API shows it to its owner."""

    id: str
    created_at: str
    updated_at: str


class Profile(ProfileView):
    """A preset as stored: one item under its owner."""

    owner: str

    def view(self) -> ProfileView:
        return ProfileView.model_validate(self.model_dump(exclude={"owner"}))
