"""GPU agents as the API shows them (their heartbeat reports), and where each Ollama model is.

The views list the fields they show: whatever else a report holds is dropped, so a field an agent adds later
(or one that should never leave it) is not passed on unseen. Every field has a default, so an older or newer
agent's report still reads.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from spoonfeeder.models.provider_options import KeepAlive

_REPORT = ConfigDict(extra="ignore", frozen=True, defer_build=True)


class GpuInfo(BaseModel):
    model_config = _REPORT

    index: int = 0
    name: str = ""
    memory_total_mb: int | None = None
    memory_used_mb: int | None = None
    utilization_percent: int | None = None


class InstalledModel(BaseModel):
    """A model in an agent's Ollama (its `/api/tags`)."""

    model_config = _REPORT

    name: str
    size: int | None = Field(default=None, description="Bytes on disk")
    digest: str | None = None
    modified_at: str | None = None
    family: str | None = None
    parameter_size: str | None = None
    quantization_level: str | None = None


class LoadedModel(BaseModel):
    """A model in an agent's GPU memory (its Ollama's `/api/ps`)."""

    model_config = _REPORT

    name: str
    size_vram: int | None = Field(default=None, description="Bytes of GPU memory it holds")
    expires_at: str | None = Field(default=None, description="When Ollama unloads it unless it is used again")


class AgentModels(BaseModel):
    model_config = _REPORT

    installed: list[InstalledModel] = Field(default_factory=list)
    loaded: list[LoadedModel] = Field(default_factory=list)
    left_out: int = Field(default=0, description="Models the report leaves out (it lists at most 200 of each)")


class AgentCapabilities(BaseModel):
    model_config = _REPORT

    ollama: bool = False
    comfyui: bool = False
    auto_pull: bool = Field(default=False, description="It pulls a model a task names when it is not installed")


class ComfyDevice(BaseModel):
    model_config = _REPORT

    name: str | None = None
    type: str | None = None
    index: int | None = None
    vram_total: int | None = None
    vram_free: int | None = None


class ComfyOptionsReport(BaseModel):
    model_config = _REPORT

    checkpoints: list[str] = Field(default_factory=list)
    loras: list[str] = Field(default_factory=list)
    samplers: list[str] = Field(default_factory=list)
    schedulers: list[str] = Field(default_factory=list)


class ComfyState(BaseModel):
    """The agent's ComfyUI, as its last heartbeat saw it (never its URL)."""

    model_config = _REPORT

    up: bool = False
    version: str | None = None
    simulated: bool = Field(default=False, description="It is the local cloud's fake")
    devices: list[ComfyDevice] = Field(default_factory=list)
    options: ComfyOptionsReport = Field(default_factory=ComfyOptionsReport)


class OllamaState(BaseModel):
    model_config = _REPORT

    up: bool = False
    version: str | None = None


class AgentView(BaseModel):
    """One live GPU agent: its last heartbeat report (never the Ollama URL, which may carry credentials)."""

    model_config = _REPORT

    agent_id: str
    host: str = ""
    version: str = Field(default="", description="The agent package's version")
    labels: list[str] = Field(default_factory=list)
    concurrency: int = 0
    tasks_in_flight: int = 0
    started_at: str | None = None
    heartbeat_at: str | None = None
    alive_until: int = Field(description="Epoch seconds: it drops out of the fleet then, unless it beats again")
    simulated: bool = Field(default=False, description="Its Ollama is the local cloud's fake")
    capabilities: AgentCapabilities = Field(default_factory=AgentCapabilities)
    gpus: list[GpuInfo] = Field(default_factory=list)
    ollama: OllamaState = Field(default_factory=OllamaState)
    models: AgentModels = Field(default_factory=AgentModels)
    comfyui: ComfyState | None = Field(default=None, description="Its ComfyUI; null when it runs none")


# ---------------------------------------------------------------------------------------- Ollama models
class InstalledOn(BaseModel):
    model_config = ConfigDict(frozen=True, defer_build=True)

    agent_id: str
    size: int | None = None
    digest: str | None = None
    modified_at: str | None = None


class LoadedOn(BaseModel):
    model_config = ConfigDict(frozen=True, defer_build=True)

    agent_id: str
    size_vram: int | None = None
    expires_at: str | None = None


class OllamaPlacement(BaseModel):
    """Where live GPU agents have an Ollama model, with its details as the first of them reports them."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    installed_on: list[InstalledOn]
    loaded_on: list[LoadedOn]
    family: str | None = None
    parameter_size: str | None = None
    quantization_level: str | None = None


class OllamaModelStatus(BaseModel):
    """GET /api/models/ollama/{name}/status: `loaded` while some agent holds it in GPU memory."""

    model_config = ConfigDict(defer_build=True)

    id: str = Field(description="ollama/{name}, the name with its tag")
    name: str
    status: Literal["loaded", "not_loaded"]
    installed_on: list[InstalledOn]
    loaded_on: list[LoadedOn]


class ModelCommand(BaseModel):
    """Body of a model operation (optional): the agent to run it on; without one the API chooses."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    agent_id: str | None = Field(default=None, min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:-]+$")


class LoadCommand(ModelCommand):
    keep_alive: KeepAlive | None = Field(
        default=None, description="How long the model stays loaded: a duration (\"30m\", \"-1s\" for ever) or "
                                  "seconds; Ollama's default (5 minutes) when absent")
