"""The agent's heartbeat: who it is, its GPUs, its Ollama and models, and its load, written every few seconds.

A report stays far below DynamoDB's item limit: the model lists are capped (an Ollama with hundreds of models
reports the first MAX_MODELS, and says how many it left out).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger
from spoonfeeder import ids
from spoonfeeder.catalog import ollama_names
from spoonfeeder.data.agents import AgentRegistry

from spoon_agent import __version__, gpus
from spoon_agent.comfyui_driver import ComfyUI
from spoon_agent.config import AgentSettings
from spoon_agent.metrics import AgentMetrics
from spoon_agent.ollama_driver import OllamaModels

logger = Logger(child=True)

MAX_MODELS = 200
STOP_WAIT_SECONDS = 2.0


class Inventory:
    def __init__(self, settings: AgentSettings, models: OllamaModels, registry: AgentRegistry,
                 in_flight: Callable[[], int], metrics: AgentMetrics, *, comfyui: ComfyUI | None = None) -> None:
        self.settings, self.models, self.registry = settings, models, registry
        self.in_flight, self.metrics = in_flight, metrics
        self.comfyui = comfyui
        self._comfyui_up = False
        self._comfyui_options: dict[str, list[str]] = {}
        self._options_read_at = float("-inf")
        self.started_at = ids.now_iso()
        self._installed: frozenset[str] = frozenset()  # as the last heartbeat saw it
        self._lock = threading.Lock()  # one beat at a time: the loop's and the ones after a model operation
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def report(self) -> dict[str, Any]:
        up = self.models.up()
        self.metrics.ollama_up.set(1 if up else 0)
        installed = self.models.installed() if up else []
        self._installed = frozenset(ollama_names.canonical(m["name"]) for m in installed)
        loaded = self.models.loaded() if up else []
        report: dict[str, Any] = {"comfyui": self._comfyui_report()} if self.comfyui is not None else {}
        return report | {
            "host": socket.gethostname(), "version": __version__, "labels": self.settings.labels,
            "concurrency": self.settings.agent_concurrency, "tasks_in_flight": self.in_flight(),
            "started_at": self.started_at, "heartbeat_at": ids.now_iso(),
            "simulated": self.settings.ollama_simulated,
            "capabilities": {"ollama": up, "comfyui": self._comfyui_up, "auto_pull": self.settings.agent_auto_pull},
            "gpus": gpus.probe(),
            "ollama": {"up": up, "version": self.models.version() if up else None},
            "models": {"installed": installed[:MAX_MODELS], "loaded": loaded[:MAX_MODELS],
                       "left_out": max(0, len(installed) - MAX_MODELS) + max(0, len(loaded) - MAX_MODELS)},
        }

    def _comfyui_report(self) -> dict[str, Any]:
        """ComfyUI's part of a heartbeat: up, version, devices, and its options (read again now and then: a few
        /object_info calls, too many for every beat)."""
        assert self.comfyui is not None
        try:
            stats = self.comfyui.system_stats()
        except Exception:
            self._comfyui_up = False
            self.metrics.comfyui_up.set(0)
            return {"up": False, "version": None, "devices": [], "options": self._comfyui_options,
                    "simulated": self.settings.comfyui_simulated}
        self._comfyui_up = True
        self.metrics.comfyui_up.set(1)
        if time.monotonic() - self._options_read_at >= self.settings.comfyui_options_seconds:
            try:
                self._comfyui_options = {name: choices[:MAX_MODELS]
                                         for name, choices in self.comfyui.options().items()}
                self._options_read_at = time.monotonic()
            except Exception:
                logger.warning("could not read ComfyUI's options", exc_info=True)
        return {"up": True, "version": stats["version"], "devices": stats["devices"][:16],
                "options": self._comfyui_options, "simulated": self.settings.comfyui_simulated}

    def comfyui_up(self) -> bool:
        """Whether ComfyUI answered at the last heartbeat."""
        return self._comfyui_up

    def has(self, model: str) -> bool:
        """Whether the model was installed at the last heartbeat (or after the last model operation, which
        beats at once): no call to Ollama on a task's path."""
        return ollama_names.canonical(model) in self._installed

    def beat(self) -> None:
        with self._lock:
            try:
                self.registry.beat(self.settings.identity, self.report(),
                                   alive_seconds=self.settings.agent_alive_seconds)
            except Exception:  # a missed beat is not fatal: the agent stays listed until alive_seconds pass
                logger.exception("heartbeat failed")

    def start(self) -> None:
        self.beat()
        self._thread = threading.Thread(target=self._loop, name="inventory", daemon=True)
        self._thread.start()

    def stop(self, *, leave: bool) -> None:
        """Stop beating; `leave` removes the agent from the registry at once (a clean shutdown)."""
        self._stop.set()
        if self._thread:
            # A beat under way may be waiting on a slow Ollama or ComfyUI (seconds per probe): it is a daemon
            # thread, and stopping waits for it briefly, not for its probes' timeouts.
            self._thread.join(timeout=STOP_WAIT_SECONDS)
        if leave:
            try:
                self.registry.leave(self.settings.identity)
            except Exception:
                logger.exception("could not leave the registry; the agent drops out when its last beat ends")

    def _loop(self) -> None:
        while not self._stop.wait(self.settings.agent_beat_seconds):
            self.beat()
