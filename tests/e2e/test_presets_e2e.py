"""On the whole local cloud (IAM enforced): a user saves a preset with a fallback chain, creates a task from it
with variables, and watches it move to the fallback over the WebSocket when the first model is down."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from tests.e2e.conftest import User, receive

pytestmark = pytest.mark.e2e


def test_a_preset_task_falls_back_when_its_model_is_down(alice: User, bob: User, openai: Any) -> None:
    broken, working = f"broken-{uuid.uuid4().hex[:8]}", f"working-{uuid.uuid4().hex[:8]}"
    preset = {"name": "Greeting", "type": "text", "provider": "openai", "model": broken,
              "prompt_template": "Greet {who} in {lang}", "system": "You are {tone}.",
              "fallbacks": [{"provider": "openai", "model": working}]}
    saved = alice.call("POST", "/profiles", json=preset)
    assert saved.status_code == 201, saved.text
    preset_id = saved.json()["data"]["id"]
    assert saved.headers["location"] == f"/api/profiles/{preset_id}"
    assert bob.call("GET", f"/profiles/{preset_id}").status_code == 404
    assert preset_id not in [p["id"] for p in bob.call("GET", "/profiles").json()["data"]]

    refused = alice.call("POST", "/tasks", json={"profile_id": preset_id, "variables": {"who": "Bob"}})
    assert refused.status_code == 400
    assert refused.json()["error"]["details"]["missing"] == ["lang", "tone"]

    openai.set_down(True, model=broken)
    with alice.socket() as ws:
        ws.send(json.dumps({"action": "subscribe", "topic": f"owner:{alice.id}"}))
        receive(ws, lambda m: m["type"] == "subscribed")
        created = alice.call("POST", "/tasks", json={"profile_id": preset_id,
                                                     "variables": {"who": "Bob", "lang": "Dutch", "tone": "warm"}})
        assert created.status_code == 201, created.text
        task_id = created.json()["data"]["id"]
        events = [m["event"] for m in receive(ws, lambda m: m["type"] == "event" and m["event"]["task_id"] == task_id
                                              and m["event"]["type"] in ("task:completed", "task:failed"),
                                              timeout=60) if m["type"] == "event"]
    mine = [e for e in events if e["task_id"] == task_id]
    assert mine[-1]["type"] == "task:completed"
    (move,) = [e["data"] for e in mine if e["type"] == "task:retrying" and "to" in e["data"]]
    assert (move["from"]["model"], move["to"]["model"], move["reason"]) == (broken, working, "PROVIDER_UNAVAILABLE")
    task = alice.call("GET", f"/tasks/{task_id}").json()["data"]
    assert task["result"]["text"] == "Echo: Greet Bob in Dutch"
    assert (task["result"]["provider"], task["result"]["model"]) == ("openai", working)
    assert task["request_snapshot"]["system"] == "You are warm."
    assert task["request_snapshot"]["fallbacks"] == [{"provider": "openai", "model": working}]
    sent = [r["json"]["model"] for r in openai.requests]
    assert sent.count(broken) == 3 and sent.count(working) == 1  # MaxReceiveCount=3 per pair

    assert alice.call("DELETE", f"/profiles/{preset_id}").status_code == 200
    assert alice.call("GET", f"/profiles/{preset_id}").status_code == 404
