"""GPU agents of the local cloud: `spoon-agent` processes on this machine, as on a GPU host, under the agent's
role from the template (so IAM enforcement shows a missing grant), next to a real Ollama (OLLAMA_URL) or the
protocol fake of Ollama, labelled simulated.

Each agent gets its AWS identity through a `credential_process` (localcloud.agent_credentials) that assumes
the role, as an operator's agent would through IAM Roles Anywhere: the SDK renews the credentials itself.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .stack import RoleCredentials

log = logging.getLogger("localcloud.agents")

AGENT_ROLE = "GpuAgentRole"


def agent_role_arn(stack: Any) -> str:
    """The ARN of the template's GpuAgentRole as moto's CloudFormation made it (its physical id is the name)."""
    role = str(stack.resources[AGENT_ROLE])
    return role if role.startswith("arn:") else f"arn:aws:iam::{stack.account_id}:role/{role}"


def agent_credentials(stack: Any, endpoint_url: str, region: str, session_name: str = "spoon-agent") -> RoleCredentials:
    """Credentials of the agent's role (STS AssumeRole with the caller's keys, as an operator's agent assumes it),
    for a test or a tool that acts as the agent under the local cloud's IAM enforcement: `.env()` gives them."""
    return RoleCredentials(endpoint_url, region, agent_role_arn(stack), session_name)


#: What an agent inherits of the local cloud's environment: nothing else (no provider keys, no AWS identity but its
#: role's).
INHERITED = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "PYTHONPATH", "VIRTUAL_ENV", "POWERTOOLS_LOG_LEVEL")
#: The local agents' grace period on SIGTERM, and how long the local cloud waits for them beyond it.
AGENT_GRACE_SECONDS = 5
STOP_GRACE_SECONDS = AGENT_GRACE_SECONDS + 10.0


@dataclass
class AgentFleet:
    """Starts and stops the local agents; `env(agent_id)` is what a further agent process would be given."""

    stack: Any  # localcloud.stack.Stack
    endpoint_url: str
    region: str
    admin: dict[str, str] = field(repr=False)  # the local cloud's own keys: only in the 0600 source file
    state_dir: Path
    ollama_url: str
    simulated: bool
    metrics_port: int = 0  # the first agent's; 0: no metrics endpoint
    comfyui_url: str = ""
    comfyui_simulated: bool = False
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        role_arn = agent_role_arn(self.stack)
        source = self.state_dir / "agent-role-source.json"
        source.write_text(json.dumps({"endpoint_url": self.endpoint_url, "region": self.region,
                                      "role_arn": role_arn, "session_name": "spoon-agent", **self.admin}),
                          encoding="utf-8")
        source.chmod(0o600)
        self.aws_config = self.state_dir / "agent-aws-config"
        self.aws_config.write_text(
            f"[default]\nregion = {self.region}\n"
            f"credential_process = {sys.executable} -m localcloud.agent_credentials {source}\n", encoding="utf-8")

    def settings(self) -> dict[str, str]:
        """An agent's own variables (spoon-agent's settings and its AWS configuration), but its AGENT_ID: what a
        tool or a test needs to start one more agent (stack.json's `agent_env`). No secret is among them."""
        resources = self.stack.resources
        functions_env: dict[str, str] = {}
        for spec in self.stack.functions.values():  # the run settings the workers get (lease, retries …)
            functions_env.update(spec.env)
        env = {k: v for k, v in functions_env.items()
               if k in ("TABLE_NAME", "BUCKET_NAME", "STAGE", "MAX_RECEIVE_COUNT", "RETRY_BASE_SECONDS",
                        "LEASE_SECONDS", "HEARTBEAT_SECONDS", "MAX_LOST_RUNS")}
        env.update({
            "AWS_CONFIG_FILE": str(self.aws_config), "AWS_SHARED_CREDENTIALS_FILE": str(self.aws_config) + ".none",
            "AWS_ENDPOINT_URL": self.endpoint_url, "AWS_REGION": self.region, "AWS_DEFAULT_REGION": self.region,
            "GPU_TASKS_QUEUE_URL": str(resources["GpuTasksQueue"]), "OLLAMA_URL": self.ollama_url,
            "OLLAMA_SIMULATED": "true" if self.simulated else "false",
            "COMFYUI_URL": self.comfyui_url, "COMFYUI_SIMULATED": "true" if self.comfyui_simulated else "false",
            "METRICS_PORT": "0", "AGENT_GRACE_SECONDS": str(AGENT_GRACE_SECONDS),
            # A short long-poll: a stopping agent waits for its receive to return (Ctrl-C stops the cloud fast).
            "AGENT_RECEIVE_WAIT_SECONDS": "1",
            "POWERTOOLS_SERVICE_NAME": "spoon-agent"})
        return env

    def env(self, agent_id: str, **overrides: str) -> dict[str, str]:
        inherited = {k: v for k, v in os.environ.items() if k in INHERITED}
        return {**inherited, **self.settings(), "AGENT_ID": agent_id, **overrides}

    def start(self, count: int) -> list[dict[str, Any]]:
        started = []
        for n in range(1, count + 1):
            agent_id = f"local-agent-{n}"
            port = str(self.metrics_port + n - 1) if self.metrics_port else "0"
            self.processes[agent_id] = subprocess.Popen(
                [sys.executable, "-m", "spoon_agent"], env=self.env(agent_id, METRICS_PORT=port))
            started.append({"agent_id": agent_id, "pid": self.processes[agent_id].pid,
                            "metrics_url": f"http://127.0.0.1:{port}/metrics" if port != "0" else None})
            log.info("GPU agent %s started (pid %d)%s", agent_id, self.processes[agent_id].pid,
                     ", SIMULATED Ollama" if self.simulated else "")
        return started

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.terminate()  # SIGTERM: the agent hands back what it still holds
        for agent_id, process in self.processes.items():
            try:
                process.wait(timeout=STOP_GRACE_SECONDS)
            except subprocess.TimeoutExpired:
                log.warning("GPU agent %s did not stop in time; killed", agent_id)
                process.kill()
                process.wait()
