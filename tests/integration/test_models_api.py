"""GET /api/models and /api/models/{provider}/{name} through the API function, as the gateway calls it."""

from __future__ import annotations

import json
from typing import Any

from spoonfeeder import catalog

CATALOG = json.loads(catalog.CATALOG_FILE.read_text(encoding="utf-8"))["models"]


def all_pages(api: Any, query: dict[str, str]) -> list[dict[str, Any]]:
    models: list[dict[str, Any]] = []
    cursor = None
    while True:
        status, body, _ = api("GET", "/api/models", query={**query, **({"cursor": cursor} if cursor else {})})
        assert status == 200, body
        models += body["data"]
        cursor = body["pagination"]["cursor"]
        assert body["pagination"]["hasMore"] is (cursor is not None)
        if cursor is None:
            return models


def test_the_list_is_the_catalog_in_id_order(api: Any) -> None:
    models = all_pages(api, {"limit": "5"})
    assert [m["id"] for m in models] == sorted(f"{m['provider']}/{m['name']}" for m in CATALOG)
    gpt = next(m for m in models if m["id"] == "openai/gpt-4o-mini")
    listed = next(m for m in CATALOG if m["name"] == "gpt-4o-mini")
    assert gpt["price"]["input_per_million"] == listed["price"]["input_per_million"]
    assert gpt["context_length"] == listed["context_length"] and gpt["capabilities"] == listed["capabilities"]


def test_filters_by_provider_and_capability(api: Any) -> None:
    anthropic = all_pages(api, {"provider": "anthropic"})
    assert anthropic and {m["provider"] for m in anthropic} == {"anthropic"}
    assert len(anthropic) == sum(m["provider"] == "anthropic" for m in CATALOG)
    images = all_pages(api, {"capability": "image"})
    assert {m["id"] for m in images} == {f"{m['provider']}/{m['name']}" for m in CATALOG
                                          if "image" in m["capabilities"]}
    assert all_pages(api, {"provider": "gemini", "capability": "image"}) == []


def test_one_model_by_id(api: Any) -> None:
    status, body, _ = api("GET", "/api/models/gemini/gemini-2.5-flash-lite")
    assert status == 200 and body["data"]["id"] == "gemini/gemini-2.5-flash-lite"
    assert body["data"]["temperature"] == {"min": 0, "max": 2}


def test_unknown_models_are_404_and_bad_filters_400(api: Any) -> None:
    # Names may hold ':' and '/': the rest of the path is the name, and an unknown one is an envelope 404.
    for path in ("/api/models/openai/gpt-5:latest", "/api/models/ollama/library/llama3:8b",
                 "/api/models/anthropic/gpt-4o"):
        status, body, _ = api("GET", path)
        assert status == 404 and body["success"] is False and body["error"]["code"] == "MODEL_NOT_FOUND", path
        assert body["error"]["details"]["id"] == path.removeprefix("/api/models/")
    for path, query in (("/api/models/acme/gpt-4o", None), ("/api/models", {"capability": "telepathy"}),
                        ("/api/models", {"provider": "acme"}), ("/api/models", {"limit": "0"})):
        status, body, _ = api("GET", path, query=query)
        assert status == 400 and body["error"]["code"] == "VALIDATION_ERROR", (path, query)


def test_models_need_a_signed_in_user(api: Any) -> None:
    status, body, _ = api("GET", "/api/models", user=None)
    assert status == 401 and body["success"] is False
