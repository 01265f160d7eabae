"""The API's contract for tasks: what a create takes (TaskCreate) and how a task is shown (TaskView,
TaskSummary). The task as stored, and the parts a view shows (TaskResult, TaskError), are plain records in
`models/task_record.py`, which the workers use without pydantic."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, field_validator, model_validator

from spoonfeeder.ids import ULID_PATTERN
from spoonfeeder.models.images import DEFAULT_IMAGE_MODEL, MAX_IMAGES, image_problems
from spoonfeeder.models.kinds import UNSUPPORTED, Provider, TaskStatus, TaskType
from spoonfeeder.models.provider_options import (
    OPTIONS_OF,
    AnthropicOptions,
    GeminiOptions,
    OllamaOptions,
    OpenAIOptions,
)
from spoonfeeder.models.task_record import Task, TaskError, TaskResult

#: Bounds of a response format's JSON schema (its JSON text): a schema describes an answer, it is not one.
RESPONSE_SCHEMA_MAX_BYTES = 16 * 1024
#: Turns of a chat task's history; their text together counts against the same byte limit as a prompt.
MAX_MESSAGES = 100


class JsonSchemaSpec(BaseModel):
    """A named JSON schema the answer must follow (OpenAI's `json_schema` shape)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    name: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")
    description: str | None = Field(default=None, max_length=1000)
    schema_: dict[str, Any] = Field(alias="schema", description="A JSON schema (an object), at most 16 KiB.")
    strict: bool | None = None

    @field_validator("schema_")
    @classmethod
    def _bounded(cls, value: dict[str, Any]) -> dict[str, Any]:
        size = len(json.dumps(value, ensure_ascii=False).encode("utf-8", "surrogatepass"))
        if size > RESPONSE_SCHEMA_MAX_BYTES:
            raise ValueError(f"the schema is {size} bytes; at most {RESPONSE_SCHEMA_MAX_BYTES} are allowed")
        return value


class JsonObjectFormat(BaseModel):
    """Any JSON object (Anthropic has no such mode: it is asked for in the system prompt there)."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["json_object"]


class JsonSchemaFormat(BaseModel):
    """JSON following `json_schema.schema` (structured output on every provider)."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["json_schema"]
    json_schema: JsonSchemaSpec


ResponseFormat = Annotated[JsonObjectFormat | JsonSchemaFormat, Field(discriminator="type")]


class ImageOptions(BaseModel):
    """The `image` block of an image task. Which values a model takes is checked against IMAGE_MODELS."""

    model_config = ConfigDict(extra="forbid")

    size: str | None = Field(default=None, pattern=r"^(auto|[1-9][0-9]{1,4}x[1-9][0-9]{1,4})$",
                             examples=["1024x1024"], description="`WIDTHxHEIGHT`, or `auto` (gpt-image-1)")
    quality: str | None = Field(default=None, max_length=20, examples=["high"])
    n: int | None = Field(default=None, ge=1, le=MAX_IMAGES, description="How many images (dall-e-3: 1)")
    background: str | None = Field(default=None, max_length=20, examples=["transparent"],
                                   description="gpt-image-1 only: transparent, opaque or auto")


class ChatMessage(BaseModel):
    """One turn of a chat task's history."""

    model_config = ConfigDict(extra="forbid")

    role: Literal["user", "assistant"]
    content: str = Field(min_length=1)


# defer_build: each model's validator is built when the API first uses it, not when a router imports this module
# (see docs/benchmarks.md, cold start).
class TextOptions(BaseModel):
    """Generation options for text tasks; ranges follow the providers' own limits."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    temperature: float | None = Field(default=None, ge=0, le=2, allow_inf_nan=False)
    top_p: float | None = Field(default=None, gt=0, le=1, allow_inf_nan=False)
    max_tokens: int | None = Field(default=None, ge=1, le=128_000)
    # OpenAI takes at most 4 stop sequences (Gemini 5, Anthropic does not say); 256 characters each is far
    # beyond any real stop sequence and keeps the stored request small.
    stop: list[Annotated[str, StringConstraints(min_length=1, max_length=256)]] | None = Field(
        default=None, max_length=4)
    # OpenAI's seed is a signed 64-bit integer.
    seed: int | None = Field(default=None, ge=-(2**63), le=2**63 - 1)
    response_format: ResponseFormat | None = None


class TaskCreate(BaseModel):
    """Body of POST /api/tasks."""

    model_config = ConfigDict(extra="forbid", defer_build=True, json_schema_extra={"examples": [
        {"type": "text", "provider": "openai", "prompt": "Say hello", "options": {"temperature": 0.2}},
        {"type": "chat", "provider": "anthropic", "system": "Be brief.", "messages": [
            {"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"},
            {"role": "user", "content": "Name a colour."}]},
        {"type": "image", "provider": "openai", "model": "gpt-image-1", "prompt": "A lighthouse at dusk",
         "image": {"size": "1024x1024", "quality": "low"}}]})

    # type and provider are required unless a preset (profile_id) gives them (and the prompt): presets/apply.py.
    type: TaskType | None = None
    provider: Provider | None = None
    model: str | None = Field(default=None, min_length=1, max_length=200)
    prompt: str | None = Field(default=None, min_length=1,
                               description="The prompt of every type but chat (a preset's template gives it "
                                           "instead). The UTF-8 bytes of system, prompt and messages together have "
                                           "a limit that answers 413 when exceeded.")
    messages: list[ChatMessage] | None = Field(
        default=None, min_length=1, max_length=MAX_MESSAGES,
        description="Chat tasks only (and required there): the history, the last message the user's.")
    system: str | None = Field(default=None, max_length=20_000)
    name: str | None = Field(default=None, max_length=200)
    options: TextOptions = Field(default_factory=TextOptions)
    provider_options: OpenAIOptions | AnthropicOptions | GeminiOptions | OllamaOptions | None = Field(
        default=None, union_mode="left_to_right",
        description="Options only the task's provider has; validated against that provider's fields.")
    # A preset: its settings under the body's explicit fields, its template rendered with `variables`.
    profile_id: str | None = Field(default=None, pattern=ULID_PATTERN)
    variables: dict[Annotated[str, StringConstraints(min_length=1, max_length=64)],
                    Annotated[str, StringConstraints(max_length=100_000)]] | None = Field(
        default=None, max_length=50, description="Values of the preset's placeholders, by name.")

    @model_validator(mode="after")
    def _complete_without_preset(self) -> TaskCreate:
        if self.profile_id is None:
            missing = [name for name in ("type", "provider") if getattr(self, name) is None]
            if missing:
                raise ValueError(f"{', '.join(missing)} required (or a profile_id whose preset gives them)")
        return self

    @model_validator(mode="after")
    def _fits_type_and_provider(self) -> TaskCreate:
        if self.profile_id is not None:  # checked once the preset is applied (presets/apply.py)
            return self
        if self.type is TaskType.MODEL_OP:
            raise ValueError("model operations are asked through /api/models/ollama/{name}/pull|load|unload and "
                             "DELETE /api/models/ollama/{name}")
        if self.type is TaskType.CHAT:
            if self.messages is None or self.prompt is not None:
                raise ValueError("a chat task takes `messages` (its history), not `prompt`")
            if self.messages[-1].role != "user":
                raise ValueError("the last of `messages` must be the user's")
        elif self.prompt is None or self.messages is not None:
            raise ValueError(f"a {self.type} task takes `prompt`, not `messages`")
        given = self.options.model_dump(exclude_none=True)
        if refused := sorted(UNSUPPORTED.get(self.provider, frozenset()) & given.keys()):
            raise ValueError(f"{self.provider} does not support the option(s) {', '.join(refused)}")
        if self.provider_options is not None:
            self.provider_options = _options_for(self.provider, self.provider_options)
        return self

    # ---- image tasks (type "image"): their parameters, checked against the model
    image: ImageOptions | None = Field(default=None, description="Image parameters (image tasks only)")
    # ---- ComfyUI image tasks (provider "comfyui"): a generation without a session
    workflow_id: str | None = Field(default=None, pattern=r"^([0-9A-HJKMNP-TV-Z]{26}|default)$", description=(
        "ComfyUI only: one of your workflows (/api/comfyui/workflows), or `default` (the shipped text-to-image "
        "workflow, also when omitted)"))
    parameters: dict[str, str | int | float | bool] | None = Field(default=None, max_length=50, description=(
        "ComfyUI only: workflow parameters (seed, steps, cfg, sampler, scheduler, width, height, checkpoint …); "
        "`prompt` is the positive text"))

    @model_validator(mode="after")
    def _comfyui_fits(self) -> TaskCreate:
        if self.provider is not Provider.COMFYUI:
            if self.workflow_id is not None or self.parameters is not None:
                raise ValueError("`workflow_id` and `parameters` apply to ComfyUI tasks only")
            return self
        if self.type is not TaskType.IMAGE:
            raise ValueError("ComfyUI runs image tasks (a workflow's outputs may be images, video or audio)")
        if self.image is not None or self.system is not None or self.options.model_fields_set \
                or self.provider_options is not None:
            raise ValueError("ComfyUI tasks take `workflow_id`, `parameters` and `prompt`, not `image`, `system`, "
                             "`options` or `provider_options`")
        return self

    @model_validator(mode="after")
    def _image_fits(self) -> TaskCreate:
        if self.profile_id is not None:  # checked once the preset is applied (presets/apply.py)
            return self
        if self.type is not TaskType.IMAGE:
            if self.image is not None:
                raise ValueError("`image` applies to image tasks only")
            return self
        if self.provider is Provider.COMFYUI:  # _comfyui_fits
            return self
        if self.system is not None or self.options.model_fields_set:
            raise ValueError("image tasks take `image` parameters, not `system` or text `options`")
        problems = image_problems(self.model or DEFAULT_IMAGE_MODEL, self.image or ImageOptions())
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def input_bytes(self) -> int:
        """UTF-8 bytes of everything the model reads: system prompt, prompt and messages."""
        texts = [self.system or "", self.prompt or "", *(m.content for m in self.messages or [])]
        return sum(len(text.encode("utf-8", "surrogatepass")) for text in texts)


def _options_for(provider: Provider, given: BaseModel) -> BaseModel:
    """The provider options validated as the task's provider's own (the union admits any provider's)."""
    model = OPTIONS_OF.get(provider)
    if model is None:
        raise ValueError(f"{provider} takes no provider_options")
    try:
        return model.model_validate(given.model_dump(exclude_unset=True))
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ValueError(f"provider_options for {provider}: {problems}") from None


class TaskSummary(BaseModel):
    """A task as GET /api/tasks lists it: only what the owner index (gsi1) projects, no request or result."""

    model_config = ConfigDict(defer_build=True)

    id: str
    type: TaskType
    provider: Provider
    model: str
    name: str | None = None
    status: TaskStatus
    attempt: int = 1
    error: TaskError | None = None
    created_at: str
    completed_at: str | None = None


class TaskView(BaseModel):
    """A task as the API shows it to its owner; `input` (the `system` prompt, and the `prompt`, or a chat's
    `messages`) and `options` are read from the request snapshot."""

    model_config = ConfigDict(defer_build=True)

    id: str
    type: TaskType
    provider: Provider
    model: str
    name: str | None
    status: TaskStatus
    input: dict[str, Any]
    options: dict[str, Any]
    request_snapshot: dict[str, Any] | None
    attempt: int
    last_seq: int
    lost_runs: int = 0
    result: TaskResult | None
    error: TaskError | None
    metadata: dict[str, Any]
    created_at: str
    updated_at: str
    started_at: str | None
    completed_at: str | None
    rerun_of: str | None = Field(default=None, description="The task this one re-runs (POST /api/tasks/{id}/rerun)")
    session_id: str | None = Field(default=None, description="A ComfyUI generation's session")
    workflow_id: str | None = Field(default=None, description="A ComfyUI generation's workflow")
    parameters: dict[str, Any] | None = Field(default=None, description="A ComfyUI generation's parameters")
    batch_id: str | None = Field(default=None, description="The batch the task came from")
    custom_id: str | None = Field(default=None, description="Its id in the batch's input file")

    @classmethod
    def of(cls, task: Task) -> TaskView:
        data = task.to_dict()
        for hidden in ("owner", "seq", "lease_until", "lease_owner", "request_s3_key", "request_bytes", "due_at",
                       "resends", "batch_line"):
            del data[hidden]
        snapshot = task.request_snapshot or {}
        messages = snapshot.get("messages") or []
        given: dict[str, Any] = {"system": snapshot["system"]} if snapshot.get("system") else {}
        if task.type is TaskType.CHAT:
            given["messages"] = messages
        elif messages:
            given["prompt"] = messages[-1].get("content")
        return cls(**data, input=given, options=snapshot.get("options", {}), last_seq=task.seq)


class TaskFilters(BaseModel):
    model_config = ConfigDict(defer_build=True)

    status: TaskStatus | None = None
    type: TaskType | None = None
    provider: Provider | None = None
    created_from: str | None = None
    created_to: str | None = None
