"""Ollama's name rule: a name without a tag is its `latest` tag."""

from __future__ import annotations

import pytest
from spoonfeeder.catalog.ollama_names import canonical, same


@pytest.mark.parametrize(("name", "full"), [
    ("llama3.2", "llama3.2:latest"),
    ("llama3.2:latest", "llama3.2:latest"),
    ("llama3.2:1b", "llama3.2:1b"),
    ("hf.co/org/repo", "hf.co/org/repo:latest"),
    ("hf.co/org/repo:Q4_K_M", "hf.co/org/repo:Q4_K_M"),
    ("localhost:5000/team/model", "localhost:5000/team/model:latest"),  # a registry's port is not a tag
    ("localhost:5000/team/model:v2", "localhost:5000/team/model:v2"),
])
def test_canonical(name: str, full: str) -> None:
    assert canonical(name) == full


def test_same() -> None:
    assert same("llama3.2", "llama3.2:latest") and same("hf.co/a/b:latest", "hf.co/a/b")
    assert not same("llama3.2", "llama3.2:1b") and not same("llama3.2:1b", "llama3.2:3b")
