"""The agent's settings, from its environment (the same loader and naming as the Lambda functions' settings).

Besides the run settings shared with the Lambda workers (TABLE_NAME, BUCKET_NAME, lease and retry timing):
GPU_TASKS_QUEUE_URL, OLLAMA_URL, COMFYUI_URL (none: this agent runs no ComfyUI generations),
AGENT_CONCURRENCY, AGENT_ID (default: the host name), AGENT_LABELS
(comma-separated), AGENT_AUTO_PULL (pull a model a task asks for when it is not installed), METRICS_PORT
(0: no metrics endpoint). AWS credentials and region come from the usual AWS variables or profile.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass

from spoonfeeder.settings import RunSettings


@dataclass(frozen=True, kw_only=True)
class AgentSettings(RunSettings):
    gpu_tasks_queue_url: str
    ollama_url: str = "http://127.0.0.1:11434"
    # Set by the local cloud when OLLAMA_URL is its protocol fake: reports and tasks say "simulated".
    ollama_simulated: bool = False
    comfyui_url: str = ""
    comfyui_simulated: bool = False
    # How long a generation waits for a starting ComfyUI before it is retried later.
    comfyui_ready_seconds: float = 60.0
    # How often the ComfyUI options (checkpoints, LoRAs, samplers …) are read again for the heartbeat.
    comfyui_options_seconds: float = 60.0
    agent_id: str = ""
    agent_labels: str = ""
    agent_concurrency: int = 2
    agent_auto_pull: bool = False
    # Inventory heartbeat: every beat_seconds; the agent counts as alive for alive_seconds after a beat.
    agent_beat_seconds: float = 5.0
    agent_alive_seconds: int = 20
    # How often the agent's inbox (commands for this agent alone) is read, and how long a receive waits.
    agent_inbox_seconds: float = 1.0
    agent_receive_wait_seconds: int = 5
    # On SIGTERM: time for the tasks under way to finish before they are handed back.
    agent_grace_seconds: float = 30.0
    metrics_port: int = 9108
    metrics_host: str = "127.0.0.1"
    # A generation on a GPU (a model load first) takes longer than a cloud call.
    provider_timeout_seconds: float = 600.0

    @property
    def identity(self) -> str:
        return self.agent_id or socket.gethostname()

    @property
    def labels(self) -> list[str]:
        return [label.strip() for label in self.agent_labels.split(",") if label.strip()]
