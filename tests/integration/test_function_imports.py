"""Each handler imports only what its Lambda has: no provider SDK at import time (the WebSocket, events and
dead-letter functions have no providers layer at all; the worker loads an SDK only for a task that needs it, the
API only for a provider settings test)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest

SDKS = ("openai", "anthropic", "google.genai")
PROBE = (
    "import json, sys; sys.path.insert(0, sys.argv[1]); import app; "
    f"print(json.dumps([m for m in {SDKS!r} if m in sys.modules]))"
)


@pytest.mark.parametrize("function", ["ApiFunction", "WsFunction", "EventsFunction", "LlmWorkerFunction",
                                      "DeadLettersFunction"])
def test_handler_import_pulls_in_no_provider_sdk(stack: Any, function: str) -> None:
    spec = stack.functions[function]
    env = {**os.environ, **spec.env}
    result = subprocess.run([sys.executable, "-c", PROBE, str(spec.code_dir)], env=env, capture_output=True,
                            text=True, timeout=60, check=True)
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []
