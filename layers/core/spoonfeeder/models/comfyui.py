"""The API's contract for ComfyUI: workflows (API-format graphs with their parameters), sessions that group
generations, a generate request, and how workflows, sessions and generations are shown.

A generation is a task (provider comfyui): its id is the task's, and GET /api/tasks/{id} shows it too.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from spoonfeeder.comfyui import workflow as graphs
from spoonfeeder.models.kinds import TaskStatus
from spoonfeeder.models.task_record import TaskError, TaskOutput

#: A workflow's JSON, in UTF-8 bytes: it is stored in its item (DynamoDB's limit is 400 KB) and in every
#: generation's request snapshot.
MAX_WORKFLOW_BYTES = 100 * 1024
MAX_GENERATIONS_PER_REQUEST = 16
#: Parameters a session's generations can be filtered by (they are stored on each generation).
FILTERS = ("width", "height", "steps", "cfg", "seed", "sampler", "scheduler", "checkpoint")
ParameterValues = dict[str, str | int | float | bool]


def workflow_text(workflow: dict[str, Any]) -> str:
    """The one serialisation of a workflow: what is stored and what ComfyUI receives, byte for byte."""
    return json.dumps(workflow, ensure_ascii=False, separators=(",", ":"))


class Binding(BaseModel):
    """Where a parameter lives: a node id and one of its inputs."""

    model_config = ConfigDict(extra="forbid")

    node: str = Field(min_length=1, max_length=64)
    input: str = Field(min_length=1, max_length=128)


class WorkflowFields(BaseModel):
    """Body of POST /api/comfyui/workflows and PUT /api/comfyui/workflows/{id}: an API-format workflow (ComfyUI's
    "Export (API)"; a UI-format one, with `nodes` and `links`, is refused). Its parameters (seed, steps, cfg,
    sampler, scheduler, denoise, width, height, batch_size, checkpoint, lora…, positive, negative) are found by
    node class; `bindings` name others, or override what was found."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "name": "Invert", "workflow": {
            "1": {"class_type": "EmptyImage", "inputs": {"width": 64, "height": 64, "batch_size": 1, "color": 0}},
            "2": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}},
            "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": "spoon"}}},
        "bindings": {"width": {"node": "1", "input": "width"}, "height": {"node": "1", "input": "height"}}}]})

    name: str = Field(min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=2000)
    workflow: dict[str, Any] = Field(description="API-format workflow: node id -> {class_type, inputs}")
    bindings: dict[str, Binding] = Field(default_factory=dict, max_length=50)

    @field_validator("workflow")
    @classmethod
    def _api_format(cls, value: dict[str, Any]) -> dict[str, Any]:
        graphs.check(value)
        size = len(workflow_text(value).encode("utf-8", "surrogatepass"))
        if size > MAX_WORKFLOW_BYTES:
            raise ValueError(f"the workflow is {size} bytes of JSON; at most {MAX_WORKFLOW_BYTES} are allowed")
        return value


class ParametersPatch(BaseModel):
    """Body of PATCH /api/comfyui/workflows/{id}/parameters: new default values (written into the workflow) and
    bindings to add or replace."""

    model_config = ConfigDict(extra="forbid")

    defaults: ParameterValues = Field(default_factory=dict, max_length=50)
    bindings: dict[str, Binding] = Field(default_factory=dict, max_length=50)


class Parameter(BaseModel):
    node: str
    input: str
    default: Any = None


class WorkflowView(BaseModel):
    id: str
    name: str
    description: str | None = None
    workflow: dict[str, Any]
    bindings: dict[str, Binding]
    parameters: dict[str, Parameter] = Field(description="Each parameter: where it lives and its default")
    created_at: str
    updated_at: str


class SessionFields(BaseModel):
    """Body of POST /api/comfyui/sessions: a session runs one workflow; `parameters` are its defaults, under
    what each generate asks."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    workflow_id: str = Field(pattern=r"^[0-9A-HJKMNP-TV-Z]{26}$")
    parameters: ParameterValues = Field(default_factory=dict, max_length=50)


class SessionPatch(BaseModel):
    """Body of PATCH /api/comfyui/sessions/{id}."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200)
    parameters: ParameterValues | None = Field(default=None, max_length=50)


class SessionView(BaseModel):
    id: str
    name: str
    workflow_id: str
    parameters: ParameterValues
    generations: int = Field(description="Generations asked for in this session")
    completed: int
    failed: int
    cancelled: int
    created_at: str
    updated_at: str


class GenerateRequest(BaseModel):
    """Body of POST /api/comfyui/sessions/{id}/generate. `count` generations: seed -1 (or none) gives each its
    own random seed; a fixed seed gives seed, seed+1, …"""

    model_config = ConfigDict(extra="forbid")

    parameters: ParameterValues = Field(default_factory=dict, max_length=50)
    count: int = Field(default=1, ge=1, le=MAX_GENERATIONS_PER_REQUEST)


class GenerationView(BaseModel):
    """A generation: a task (provider comfyui) of a session, or of POST /api/tasks."""

    id: str
    task_id: str = Field(description="The generation's task (the same id)")
    session_id: str | None
    workflow_id: str | None
    rerun_of: str | None
    status: TaskStatus
    parameters: dict[str, Any] = Field(description="The parameters it ran with, seed resolved")
    outputs: list[TaskOutput] = Field(description="Stored outputs: GET /api/comfyui/outputs/{id}/{index}")
    error: TaskError | None
    created_at: str
    completed_at: str | None


class GenerationWorkflow(BaseModel):
    """The workflow a generation sent to ComfyUI: parameters applied, seed resolved."""

    workflow: dict[str, Any]
    text: str = Field(description="The very JSON text sent, byte for byte (its numbers as written: 1.0, not 1)")


class ComfyOptions(BaseModel):
    """What the live GPU agents' ComfyUI servers offer."""

    agents: list[str] = Field(description="Live agents whose ComfyUI is up")
    checkpoints: list[str]
    loras: list[str]
    samplers: list[str]
    schedulers: list[str]
