"""The GPU probe, with a fake `nvidia-smi` first on PATH."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

import pytest
from spoon_agent import gpus


def fake_nvidia_smi(folder: Path, monkeypatch: pytest.MonkeyPatch, script: str) -> Path:
    tool = folder / "nvidia-smi"
    tool.write_text("#!/bin/sh\n" + script + "\n")
    tool.chmod(tool.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ.get('PATH', '')}")
    return tool


def test_gpus_from_nvidia_smi(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_nvidia_smi(tmp_path, monkeypatch, f"""[ "$*" = "{' '.join(gpus.QUERY)}" ] || exit 9
printf '0, NVIDIA GeForce RTX 4090, 24564, 1834, 37\\n1, NVIDIA A100-SXM4-80GB, 81920, 0, 0\\n'""")
    assert gpus.probe() == [
        {"index": 0, "name": "NVIDIA GeForce RTX 4090", "memory_total_mb": 24564, "memory_used_mb": 1834,
         "utilization_percent": 37},
        {"index": 1, "name": "NVIDIA A100-SXM4-80GB", "memory_total_mb": 81920, "memory_used_mb": 0,
         "utilization_percent": 0},
    ]


def test_fields_it_cannot_tell_are_zero(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_nvidia_smi(tmp_path, monkeypatch, "printf '0, GRID A100D-40C, 40960, [N/A], [N/A]\\n'")
    assert gpus.probe() == [{"index": 0, "name": "GRID A100D-40C", "memory_total_mb": 40960,
                             "memory_used_mb": 0, "utilization_percent": 0}]


def test_garbage_lines_are_left_out(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_nvidia_smi(tmp_path, monkeypatch, """cat <<'OUT'
NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.
x, Tesla T4, 15360, 0, 0
1, Tesla T4, lots, 0, 0
2, Tesla T4, 15360, -5, 0
3, Tesla T4, 15360, 12, 4, extra

4, Tesla T4, 15360, 12, 4
OUT""")
    assert gpus.probe() == [{"index": 4, "name": "Tesla T4", "memory_total_mb": 15360, "memory_used_mb": 12,
                             "utilization_percent": 4}]


@pytest.mark.parametrize("script", [
    "echo 'No devices were found'; exit 6",  # failed: whatever it printed does not count
    "printf '0, Tesla T4, 15360, 0, 0\\n'; kill -9 $$",
])
def test_a_failing_nvidia_smi_means_no_gpus(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, script: str) -> None:
    fake_nvidia_smi(tmp_path, monkeypatch, script)
    assert gpus.probe() == []


def test_a_hanging_nvidia_smi_is_given_up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_nvidia_smi(tmp_path, monkeypatch, "exec sleep 30")
    started = time.monotonic()
    assert gpus.probe(timeout=0.3) == []
    assert time.monotonic() - started < 5


def test_no_nvidia_smi_means_no_gpus(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    assert gpus.probe() == []
