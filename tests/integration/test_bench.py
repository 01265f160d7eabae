"""The benchmark scripts run and print their figures (the figures themselves are not judged here)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run(script: str, *args: str) -> str:
    done = subprocess.run([sys.executable, str(ROOT / "bench" / script), *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=240, check=True)
    return done.stdout


def test_create_task_path_bench_prints_the_sides_and_ratios() -> None:
    out = run("create_task_path.py", "--iterations", "5", "--warmup", "2")
    assert "A handler, in-process" in out and "B raw boto3 calls" in out and "C floor" in out
    assert "A2 handler, another container counted" in out
    assert "ratio A/B" in out and "ratio A/C (handler / floor)" in out and "ratio A2/C" in out
    assert "same attributes and sizes: True" in out

    def calls(side: str) -> str:
        return next(line for line in out.splitlines() if f"{side}: " in line).split("per request: ", 1)[1]

    # The quota's count rides in the transaction and is known from its condition: the floor's two calls.
    assert calls("A handler") == calls("C floor") == "dynamodb.TransactWriteItems, sqs.SendMessage"
    # Another container counted meanwhile: one transaction misses, the next counts.
    assert calls("A2 handler, count missed") == (
        "dynamodb.TransactWriteItems, dynamodb.TransactWriteItems, sqs.SendMessage")


def test_write_path_bench_prints_calls_and_bytes_before_and_after() -> None:
    out = run("write_path.py", "--deltas", "5")
    before = next(line for line in out.splitlines() if line.startswith("before"))
    after = next(line for line in out.splitlines() if line.startswith("after"))
    assert "7 GetItem, 7 TransactWriteItems" in before
    assert "7 TransactWriteItems" in after and "GetItem" not in after


def test_cold_start_bench_prints_ratios_and_the_worker_loads_no_sdk() -> None:
    out = run("cold_start.py", "--repeats", "1")
    assert "floor (boto3 + Logger)" in out and "llm_worker (LlmWorkerFunction)" in out
    assert "provider SDKs in sys.modules after `import app`: none" in out


def test_agent_benches_print_the_overhead_ratio_and_memory_reports() -> None:
    out = run("agent_overhead.py", "--tasks", "2", "--warmup", "1", "--chunk-delay", "0.005")
    assert "A through the agent" in out and "B ollama client directly" in out and "ratio A/B" in out
    out = run("agent_memory.py", "--jobs", "20", "--every", "10", "--wave", "10")
    reports = [line.split() for line in out.splitlines() if line.strip()[:1].isdigit()]
    assert [int(report[0]) for report in reports] == [10, 20]
    assert "growth from the first report to the last" in out
