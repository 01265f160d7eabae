"""Prometheus metrics of one agent, served on a local port (METRICS_PORT; 0 turns the endpoint off)."""

from __future__ import annotations

from aws_lambda_powertools import Logger
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

logger = Logger(child=True)


class AgentMetrics:
    """The agent's own registry (not the process-global one): several agents in one test process stay apart."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.tasks = Counter("spoon_agent_tasks", "Task deliveries by kind and outcome",
                             ["kind", "outcome"], registry=self.registry)
        self.duration = Histogram("spoon_agent_task_duration_seconds", "Time to run one delivery", ["kind"],
                                  buckets=(0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800),
                                  registry=self.registry)
        self.in_flight = Gauge("spoon_agent_tasks_in_flight", "Tasks this agent runs now", registry=self.registry)
        self.ollama_up = Gauge("spoon_agent_ollama_up", "1 when Ollama answered the last heartbeat",
                               registry=self.registry)
        self.comfyui_up = Gauge("spoon_agent_comfyui_up", "1 when ComfyUI answered the last heartbeat",
                                registry=self.registry)
        self.pull_bytes = Counter("spoon_agent_pull_bytes", "Bytes of model layers pulled", registry=self.registry)

    def serve(self, port: int, host: str) -> None:
        """Serve /metrics; a port already taken is logged, not fatal: an agent without metrics still works."""
        if not port:
            return
        try:
            start_http_server(port, addr=host, registry=self.registry)
        except OSError:
            logger.error("metrics port unavailable; serving no metrics", extra={"port": port}, exc_info=True)
