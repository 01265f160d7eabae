"""Ollama model names, as Ollama itself resolves them: a name without a tag means its `latest` tag.

So "llama3.2" and "llama3.2:latest" are one model, and "hf.co/org/repo" is "hf.co/org/repo:latest". A tag is
what follows a colon in the name's last path segment: "localhost:5000/llama3" (a registry with a port) has
none. Pure string rules, shared by the API (which model an agent has) and the GPU agent (its inventory).
"""

from __future__ import annotations

DEFAULT_TAG = "latest"


def canonical(name: str) -> str:
    """The name with its tag: "llama3.2" → "llama3.2:latest"; a tagged name is returned as it is."""
    return name if ":" in name.rsplit("/", 1)[-1] else f"{name}:{DEFAULT_TAG}"


def same(first: str, second: str) -> bool:
    """Whether two names mean the same model ("llama3.2" and "llama3.2:latest" do)."""
    return canonical(first) == canonical(second)
