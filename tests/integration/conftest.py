"""Fixtures shared by the integration tests of the task queues."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import drain
from tests.integration.test_gpu_agent import start_agent  # noqa: F401 (a fixture for every agent test)


@pytest.fixture
def queues(stack: Any, functions: Any) -> dict[str, str]:
    """The LLM task queue and its dead-letter queue, emptied: URLs by logical id."""
    urls = {name: str(stack.resources[name]) for name in ("LlmTasksQueue", "LlmTasksDeadLetterQueue")}
    for url in urls.values():
        drain(url)
    return urls
