"""This host's NVIDIA GPUs, from `nvidia-smi` when it is on PATH: index, name, memory total and used (MiB) and
utilisation (%). No nvidia-smi, a failure, a hang past the timeout or output it cannot read: no GPUs (`[]`),
never an exception, since a heartbeat reports them every few seconds.

A field nvidia-smi cannot tell ("[N/A]", e.g. utilisation in some MIG or virtualised set-ups) is reported as 0;
a line that is not five fields with a numeric index and numbers elsewhere is left out.
"""

from __future__ import annotations

import csv
import math
import shutil
import subprocess
from typing import Any

QUERY = ["--query-gpu=index,name,memory.total,memory.used,utilization.gpu", "--format=csv,noheader,nounits"]
TIMEOUT_SECONDS = 5.0
_UNKNOWN = {"[n/a]", "n/a", "[not supported]", "[unknown error]", ""}


def probe(timeout: float = TIMEOUT_SECONDS) -> list[dict[str, Any]]:
    """The GPUs as the heartbeat reports them: [{index, name, memory_total_mb, memory_used_mb,
    utilization_percent}], in nvidia-smi's order."""
    command = shutil.which("nvidia-smi")
    if command is None:
        return []
    try:
        done = subprocess.run([command, *QUERY], capture_output=True, text=True, timeout=timeout, check=False)
    except (OSError, subprocess.SubprocessError):
        return []
    if done.returncode != 0:
        return []
    return parse(done.stdout)


def parse(output: str) -> list[dict[str, Any]]:
    gpus = []
    for fields in csv.reader(output.splitlines(), skipinitialspace=True):
        if len(fields) != 5:
            continue
        index, name, total, used, utilization = (field.strip() for field in fields)
        try:
            gpus.append({"index": int(index), "name": name, "memory_total_mb": _number(total),
                         "memory_used_mb": _number(used), "utilization_percent": _number(utilization)})
        except ValueError:
            continue
    return gpus


def _number(field: str) -> int:
    """A whole number of nvidia-smi's output; 0 for a field it could not tell. ValueError for anything else."""
    if field.lower() in _UNKNOWN:
        return 0
    value = float(field)
    if not math.isfinite(value) or value < 0:  # not a reading
        raise ValueError(field)
    return int(value)
