"""Does the GPU agent's memory stay flat over many jobs? 1,000 simulated Ollama tasks through one agent process.

The agent runs as its own process (`python -m spoon_agent`, as on a GPU host) against a local moto server holding
the stack localcloud's create_stack makes from template.yaml and the fake Ollama (labelled simulated). This
process creates the tasks in waves of `--wave` (the agent runs `--concurrency` at once), waits until each wave
has finished, and prints the agent's resident memory (VmRSS from /proc) every `--every` finished jobs. Goal:
growth under 5 MB from the first report to the last. Finished tasks are deleted after each wave (untimed), which
keeps the local table, and moto's time per write, from growing with the run. Every tenth job is a chat task,
every fiftieth asks for a model the host does not have (it fails MODEL_NOT_FOUND), so the error paths run too.

Run: .venv/bin/python bench/agent_memory.py [--jobs 1000] [--every 100]
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from agent_overhead import MODEL, start_cloud  # noqa: E402 - the bench folder is not a package


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--every", type=int, default=100)
    parser.add_argument("--wave", type=int, default=20)
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()

    from localcloud.fakes.ollama_server import FakeOllama

    server, stack = start_cloud()
    fake = FakeOllama(models=(MODEL,), chunk_size=8).start()
    env = {**os.environ, "TABLE_NAME": str(stack.resources["Table"]), "BUCKET_NAME": str(stack.resources["Bucket"]),
           "GPU_TASKS_QUEUE_URL": str(stack.resources["GpuTasksQueue"]), "OLLAMA_URL": fake.base_url,
           "OLLAMA_SIMULATED": "true", "AGENT_ID": "memory-bench", "AGENT_CONCURRENCY": str(args.concurrency),
           "METRICS_PORT": "0", "AGENT_RECEIVE_WAIT_SECONDS": "1", "POWERTOOLS_LOG_LEVEL": "ERROR"}
    agent = subprocess.Popen([sys.executable, "-m", "spoon_agent"], env=env)
    try:
        from spoonfeeder.data.task_store import TaskStore
        from spoonfeeder.models.tasks import TaskCreate
        from spoonfeeder.tasks.routing import Lane
        from spoonfeeder.tasks.service import TaskService

        store = TaskStore(env["TABLE_NAME"], env["BUCKET_NAME"])
        service = TaskService(store=store, destinations={Lane.GPU: env["GPU_TASKS_QUEUE_URL"]},
                              max_prompt_bytes=256 * 1024)
        print(f"Python {platform.python_version()}, load average {os.getloadavg()[0]:.2f}; agent pid {agent.pid}, "
              f"{args.concurrency} at once")
        print(f"{'jobs':>6}{'RSS MB':>10}{'seconds':>10}")
        started, reports, finished = time.monotonic(), [], 0
        while finished < args.jobs:
            wave, done_ids = [], []
            for n in range(finished, min(finished + args.wave, args.jobs)):
                body = ({"type": "chat", "messages": [{"role": "user", "content": f"job {n}"}]} if n % 10 == 9
                        else {"type": "text", "prompt": f"job {n}: a short answer please"})
                model = "missing-model:1b" if n % 50 == 49 else MODEL
                created = service.create(f"mem-{uuid.uuid4().hex[:8]}", TaskCreate.model_validate(
                    {**body, "provider": "ollama", "model": model}), idempotency_key=None, trace_id=None)
                wave.append(created.view["id"])
                done_ids.append(created.view["id"])
            deadline = time.monotonic() + 300
            while wave and time.monotonic() < deadline:
                wave = [task_id for task_id in wave if not (task := store.get(task_id)) or not task.status.terminal]
                time.sleep(0.05)
            if wave:
                raise RuntimeError(f"{len(wave)} tasks did not finish in 300 s")
            # Untimed: moto copies the whole table on every transaction, so a table that only grows would slow
            # each wave more than the last.
            for task in filter(None, map(store.get, done_ids)):
                store.delete(task)
            before, finished = finished, min(finished + args.wave, args.jobs)
            if finished // args.every > before // args.every:
                reports.append(rss_mb(agent.pid))
                print(f"{finished:>6}{reports[-1]:>10.1f}{time.monotonic() - started:>10.1f}", flush=True)
        print(f"growth from the first report to the last: {reports[-1] - reports[0]:+.1f} MB (goal < 5 MB); "
              f"peak {max(reports):.1f} MB")
    finally:
        agent.terminate()
        agent.wait(60)
        fake.stop()
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
