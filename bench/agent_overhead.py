"""What the GPU agent adds to an Ollama generation: a task through the agent vs the same call made directly.

Side A is a text task on Ollama through the agent, in this process: from the moment the agent has received the
task's message to the moment it acknowledges it (read the task, start it under a lease, stream the answer with
coalesced delta events, record the result, delete the message), on a local moto server holding the stack
localcloud's create_stack makes from template.yaml. Side B is the same generation made directly with the
official `ollama` client (stream=True, every chunk read). Both talk to the same fake Ollama, which answers at
a steady pace like a small model on a GPU (`--chunk-delay` between pieces of `--chunk-chars` characters; the
defaults are about 100 tokens a second, a 64-token answer). Runs are interleaved after a warm-up; the median
per-task overhead (A - B) and the ratio A/B are printed (goal: <= 1.1x).

Run: .venv/bin/python bench/agent_overhead.py [--tasks 30] [--warmup 3]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
REGION = "us-east-1"
MODEL = "llama3.2:latest"
PROMPT = "Describe a quiet harbour at dawn in a few sentences."


def start_cloud() -> tuple[Any, Any]:
    from localcloud.moto_process import MotoServer
    from localcloud.stack import create_stack

    server = MotoServer()
    server.start()
    os.environ.update(AWS_ENDPOINT_URL=server.url, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
                      AWS_DEFAULT_REGION=REGION, AWS_REGION=REGION, POWERTOOLS_LOG_LEVEL="ERROR")
    return server, create_stack(ROOT / "template.yaml", server.url, REGION, {})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--chunk-delay", type=float, default=0.04)  # 4 characters ~ 1 token: ~100 tokens/s
    parser.add_argument("--chunk-chars", type=int, default=16)
    parser.add_argument("--reply-chars", type=int, default=256)
    args = parser.parse_args()

    import ollama
    from localcloud.fakes.ollama_server import FakeOllama

    server, stack = start_cloud()
    reply = ("calm water, " * 100)[: args.reply_chars]
    fake = FakeOllama(models=(MODEL,), chunk_size=args.chunk_chars, chunk_delay=args.chunk_delay,
                      reply=reply).start()
    try:
        from spoon_agent.agent import Agent
        from spoon_agent.config import AgentSettings
        from spoonfeeder.models.tasks import TaskCreate
        from spoonfeeder.tasks.routing import Lane
        from spoonfeeder.tasks.service import TaskService

        settings = AgentSettings(
            table_name=str(stack.resources["Table"]), bucket_name=str(stack.resources["Bucket"]),
            gpu_tasks_queue_url=str(stack.resources["GpuTasksQueue"]), ollama_url=fake.base_url,
            agent_id="bench-agent", agent_concurrency=1, agent_receive_wait_seconds=1, metrics_port=0)
        agent = Agent(settings)
        through_agent: list[float] = []
        done = threading.Semaphore(0)
        deliver = agent._deliver_message

        def timed(message: dict[str, Any]) -> None:  # receive → acknowledge, the agent's whole part
            started = time.perf_counter()
            deliver(message)
            through_agent.append(time.perf_counter() - started)
            done.release()

        agent._deliver_message = timed  # type: ignore[method-assign]
        runner = threading.Thread(target=agent.run, daemon=True)
        runner.start()
        service = TaskService(store=agent.store, destinations={Lane.GPU: settings.gpu_tasks_queue_url},
                              max_prompt_bytes=256 * 1024)
        body = TaskCreate.model_validate({"type": "text", "provider": "ollama", "model": MODEL, "prompt": PROMPT})
        client = ollama.Client(host=fake.base_url)
        direct: list[float] = []

        def via_agent() -> None:
            service.create(f"bench-{uuid.uuid4().hex[:8]}", body, idempotency_key=None, trace_id=None)
            if not done.acquire(timeout=120):
                raise RuntimeError("the agent did not finish a task in 120 s")

        def via_client() -> None:
            started = time.perf_counter()
            for _ in client.generate(model=MODEL, prompt=PROMPT, stream=True):
                pass
            direct.append(time.perf_counter() - started)

        for _ in range(args.warmup):
            via_agent()
            via_client()
        through_agent.clear()
        direct.clear()
        for _ in range(args.tasks):
            via_agent()
            via_client()
        agent.stop()
        runner.join(30)
    finally:
        fake.stop()
        server.stop()

    a, b = statistics.median(through_agent) * 1000, statistics.median(direct) * 1000
    print(f"Python {platform.python_version()}, load average {os.getloadavg()[0]:.2f}; {args.tasks} tasks each side, "
          f"fake Ollama: {args.reply_chars} characters in pieces of {args.chunk_chars}, {args.chunk_delay * 1000:.0f} "
          f"ms apart")
    print(f"{'side':<34}{'median ms':>12}{'p95 ms':>10}")
    for name, values in (("A through the agent", through_agent), ("B ollama client directly", direct)):
        p95 = sorted(values)[max(0, int(len(values) * 0.95) - 1)] * 1000
        print(f"{name:<34}{statistics.median(values) * 1000:>12.1f}{p95:>10.1f}")
    print(f"median overhead per task: {a - b:.1f} ms; ratio A/B: {a / b:.3f} (goal <= 1.1)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
