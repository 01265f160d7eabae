"""The ComfyUI API against moto's server: workflows (import, parameters, UI format refused), sessions and their
counters, generate (seeds resolved, the exact workflow stored), generations filtered by their parameters, outputs,
rerun, image tasks through POST /api/tasks, options; and every route owner-only."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from spoonfeeder import ids
from spoonfeeder.data.agents import AgentRegistry
from spoonfeeder.data.task_store import TaskStore
from spoonfeeder.models.events import EventType
from spoonfeeder.models.kinds import TaskStatus
from spoonfeeder.tasks.state import transition

from tests.conftest import LambdaContext
from tests.integration.test_fake_comfyui import SMOKE, txt2img

AGENT = "agent-comfy-api"


@pytest.fixture
def comfy_agent(stack: Any) -> Iterator[AgentRegistry]:
    """A live agent whose ComfyUI is up (its heartbeat, as the agent writes it)."""
    registry = AgentRegistry(stack.resources["Table"])
    registry.beat(AGENT, {"comfyui": {"up": True, "version": "0.8.0", "devices": [], "options": {
        "checkpoints": ["v1-5-pruned-emaonly.safetensors"], "loras": ["add_detail.safetensors"],
        "samplers": ["euler", "dpmpp_2m"], "schedulers": ["normal", "karras"]}}}, alive_seconds=120)
    yield registry
    registry.leave(AGENT)


@pytest.fixture
def user() -> str:
    return f"comfy-{uuid.uuid4().hex[:8]}"


def ok(answer: tuple[int, Any, dict], status: int = 200) -> Any:
    assert answer[0] == status, answer[1]
    return answer[1]["data"]


def workflow(api: Any, user: str, graph: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    return ok(api("POST", "/api/comfyui/workflows", user=user,
                  body={"name": "txt2img", "workflow": graph or txt2img(), **extra}), 201)


def session(api: Any, user: str, workflow_id: str, **parameters: Any) -> dict[str, Any]:
    return ok(api("POST", "/api/comfyui/sessions", user=user,
                  body={"name": "foxes", "workflow_id": workflow_id, "parameters": parameters}), 201)


def finish(stack: Any, task_id: str, status: TaskStatus) -> None:
    """Move a generation as its agent would: running, then finished."""
    store = TaskStore(stack.resources["Table"])
    store.record(task_id, EventType.STARTED, {}, change=transition(TaskStatus.RUNNING, now_iso=ids.now_iso()))
    result = {"outputs": [], "provider": "comfyui"} if status is TaskStatus.SUCCEEDED else None
    error = {"code": "BAD_REQUEST", "message": "node 3"} if status is TaskStatus.FAILED else None
    store.record(task_id, {TaskStatus.SUCCEEDED: EventType.COMPLETED, TaskStatus.FAILED: EventType.FAILED,
                           TaskStatus.CANCELLED: EventType.CANCELLED}[status], {},
                 change=transition(status, now_iso=ids.now_iso(), updates={"result": result, "error": error}))


def test_import_finds_the_parameters_and_refuses_the_ui_format(api: Any, user: str) -> None:
    made = workflow(api, user)
    params = made["parameters"]
    assert params["seed"] == {"node": "3", "input": "seed", "default": 7}
    assert params["positive"]["default"] == "a red fox" and params["width"]["default"] == 96
    assert params["checkpoint"]["default"] == "v1-5-pruned-emaonly.safetensors"
    ui = {"nodes": [{"id": 1, "type": "KSampler", "widgets_values": [1]}], "links": []}
    status, body, _ = api("POST", "/api/comfyui/workflows", user=user, body={"name": "ui", "workflow": ui})
    assert status == 400 and "Export (API)" in json.dumps(body)
    bad_binding = api("POST", "/api/comfyui/workflows", user=user,
                      body={"name": "x", "workflow": SMOKE, "bindings": {"width": {"node": "9", "input": "width"}}})
    assert bad_binding[0] == 400 and bad_binding[1]["error"]["code"] == "INVALID_BINDING"
    bound = workflow(api, user, SMOKE, bindings={"width": {"node": "1", "input": "width"}})
    assert bound["parameters"]["width"] == {"node": "1", "input": "width", "default": 64}
    patched = ok(api("PATCH", f"/api/comfyui/workflows/{made['id']}/parameters", user=user,
                     body={"defaults": {"steps": 30, "cfg": 6.5}}))
    assert patched["parameters"]["steps"]["default"] == 30 and patched["workflow"]["3"]["inputs"]["cfg"] == 6.5
    assert [w["id"] for w in ok(api("GET", "/api/comfyui/workflows", user=user))] == [bound["id"], made["id"]]
    replaced = ok(api("PUT", f"/api/comfyui/workflows/{bound['id']}", user=user,
                      body={"name": "renamed", "workflow": SMOKE}))
    assert replaced["name"] == "renamed" and replaced["bindings"] == {}
    assert ok(api("DELETE", f"/api/comfyui/workflows/{bound['id']}", user=user))["deleted"] is True
    assert api("GET", f"/api/comfyui/workflows/{bound['id']}", user=user)[0] == 404


def test_generate_stores_the_exact_workflow_with_resolved_seeds(
        api: Any, stack: Any, user: str, comfy_agent: Any) -> None:
    made = workflow(api, user)
    sess = session(api, user, made["id"], steps=12, seed=-1)
    generations = ok(api("POST", f"/api/comfyui/sessions/{sess['id']}/generate", user=user,
                         body={"parameters": {"width": 128, "cfg": 5.0}, "count": 3}), 202)
    assert len(generations) == 3 and all(g["id"] == g["task_id"] for g in generations)
    seeds = {g["parameters"]["seed"] for g in generations}
    assert len(seeds) == 3 and all(0 <= s < 2**63 for s in seeds)
    first = generations[0]
    text = api("GET", f"/api/comfyui/generations/{first['id']}/workflow", user=user)
    stored = TaskStore(stack.resources["Table"]).get(first["id"]).request_snapshot["workflow"]  # type: ignore[union-attr]
    sent = json.loads(stored)
    assert text[1]["data"]["text"] == stored and text[1]["data"]["workflow"] == sent  # what is stored and sent
    assert sent["3"]["inputs"]["seed"] == first["parameters"]["seed"] and sent["3"]["inputs"]["steps"] == 12
    assert sent["5"]["inputs"]["width"] == 128 and sent["3"]["inputs"]["cfg"] == 5.0 and '"cfg":5.0' in stored
    fixed = ok(api("POST", f"/api/comfyui/sessions/{sess['id']}/generate", user=user,
                   body={"parameters": {"seed": 41}, "count": 2}), 202)
    assert [g["parameters"]["seed"] for g in fixed] == [41, 42]
    task = ok(api("GET", f"/api/tasks/{first['id']}", user=user))
    assert task["provider"] == "comfyui" and task["session_id"] == sess["id"]
    assert ok(api("GET", f"/api/comfyui/sessions/{sess['id']}", user=user))["generations"] == 5
    seedless = session(api, user, workflow(api, user, SMOKE)["id"])  # a workflow with no seed at all
    plain = ok(api("POST", f"/api/comfyui/sessions/{seedless['id']}/generate", user=user, body={"count": 2}), 202)
    assert [g["parameters"] for g in plain] == [{}, {}]
    bad = api("POST", f"/api/comfyui/sessions/{sess['id']}/generate", user=user,
              body={"parameters": {"no_such": 1}})
    assert bad[0] == 400 and bad[1]["error"]["code"] == "INVALID_PARAMETERS"
    assert ok(api("GET", f"/api/comfyui/sessions/{sess['id']}", user=user))["generations"] == 5  # nothing written


def test_counters_and_filters_after_a_mix_of_outcomes(
        api: Any, stack: Any, functions: Any, user: str, comfy_agent: Any) -> None:
    from tests.integration.test_usage import stream_iterators, stream_records

    made = workflow(api, user)
    sess = session(api, user, made["id"])
    iterators = stream_iterators(stack.resources["Table"])
    wide = ok(api("POST", f"/api/comfyui/sessions/{sess['id']}/generate", user=user,
                  body={"parameters": {"width": 256, "sampler": "dpmpp_2m"}, "count": 2}), 202)
    narrow = ok(api("POST", f"/api/comfyui/sessions/{sess['id']}/generate", user=user,
                    body={"parameters": {"width": 64, "steps": 4}, "count": 3}), 202)
    outcomes = [TaskStatus.SUCCEEDED, TaskStatus.FAILED, TaskStatus.SUCCEEDED, TaskStatus.SUCCEEDED,
                TaskStatus.FAILED]
    for generation, outcome in zip([*wide, *narrow], outcomes, strict=True):
        finish(stack, generation["id"], outcome)
    records = [r for r in stream_records(iterators) if r["eventName"] == "MODIFY"
               and r["dynamodb"]["NewImage"].get("session_id", {}).get("S") == sess["id"]]
    for batch in (records, records):  # a replay counts nothing again
        answer = functions["EventsFunction"].lambda_handler({"Records": batch}, LambdaContext())
        assert answer == {"batchItemFailures": []}
    counters = ok(api("GET", f"/api/comfyui/sessions/{sess['id']}", user=user))
    assert (counters["generations"], counters["completed"], counters["failed"]) == (5, 3, 2)

    def listed(**query: Any) -> list[str]:
        return [g["id"] for g in ok(api("GET", f"/api/comfyui/sessions/{sess['id']}/generations", user=user,
                                        query={k: str(v) for k, v in query.items()}))]

    assert set(listed(width=256)) == {g["id"] for g in wide}
    assert set(listed(width=64, steps=4)) == {g["id"] for g in narrow}
    assert listed(sampler="dpmpp_2m", width=64) == []
    seed = narrow[1]["parameters"]["seed"]
    assert listed(seed=seed) == [narrow[1]["id"]]
    page = api("GET", f"/api/comfyui/sessions/{sess['id']}/generations", user=user, query={"limit": "2"})
    assert page[0] == 200 and len(page[1]["data"]) == 2 and page[1]["pagination"]["hasMore"]
    rest = api("GET", f"/api/comfyui/sessions/{sess['id']}/generations", user=user,
               query={"limit": "10", "cursor": page[1]["pagination"]["cursor"]})
    assert len(rest[1]["data"]) == 3 and not {g["id"] for g in rest[1]["data"]} & {g["id"] for g in page[1]["data"]}


def test_another_user_gets_404_everywhere(api: Any, stack: Any, user: str, comfy_agent: Any) -> None:
    made = workflow(api, user)
    sess = session(api, user, made["id"])
    (gen,) = ok(api("POST", f"/api/comfyui/sessions/{sess['id']}/generate", user=user, body={}), 202)
    other = f"other-{user}"
    for method, path, body in [
            ("GET", f"/api/comfyui/workflows/{made['id']}", None),
            ("PUT", f"/api/comfyui/workflows/{made['id']}", {"name": "x", "workflow": SMOKE}),
            ("PATCH", f"/api/comfyui/workflows/{made['id']}/parameters", {"defaults": {"steps": 2}}),
            ("DELETE", f"/api/comfyui/workflows/{made['id']}", None),
            ("POST", "/api/comfyui/sessions", {"name": "s", "workflow_id": made["id"]}),
            ("GET", f"/api/comfyui/sessions/{sess['id']}", None),
            ("PATCH", f"/api/comfyui/sessions/{sess['id']}", {"name": "mine now"}),
            ("DELETE", f"/api/comfyui/sessions/{sess['id']}", None),
            ("POST", f"/api/comfyui/sessions/{sess['id']}/generate", {}),
            ("GET", f"/api/comfyui/sessions/{sess['id']}/generations", None),
            ("GET", f"/api/comfyui/generations/{gen['id']}", None),
            ("GET", f"/api/comfyui/generations/{gen['id']}/workflow", None),
            ("DELETE", f"/api/comfyui/generations/{gen['id']}", None),
            ("GET", f"/api/comfyui/outputs/{gen['id']}/0", None),
            ("POST", f"/api/tasks/{gen['id']}/rerun", None)]:
        answer = api(method, path, user=other, **({"body": body} if body is not None else {}))
        assert answer[0] == 404, (method, path, answer)
    assert ok(api("GET", f"/api/comfyui/sessions/{sess['id']}", user=user))["generations"] == 1  # untouched


def test_outputs_rerun_and_delete(api: Any, stack: Any, user: str, comfy_agent: Any) -> None:
    made = workflow(api, user)
    sess = session(api, user, made["id"])
    (gen,) = ok(api("POST", f"/api/comfyui/sessions/{sess['id']}/generate", user=user, body={}), 202)
    bucket, key = stack.resources["Bucket"], f"outputs/{user}/{gen['id']}/attempt-1/0.mp4"
    boto3.client("s3").put_object(Bucket=bucket, Key=key, Body=b"\x00\x00\x00\x18ftypmp42", ContentType="video/mp4")
    store = TaskStore(stack.resources["Table"])
    store.record(gen["id"], EventType.STARTED, {}, change=transition(TaskStatus.RUNNING, now_iso=ids.now_iso()))
    output = {"index": 0, "key": key, "content_type": "video/mp4", "bytes": 12, "kind": "gifs", "node_id": "9"}
    store.record(gen["id"], EventType.COMPLETED, {}, change=transition(
        TaskStatus.SUCCEEDED, now_iso=ids.now_iso(), updates={"result": {"outputs": [output]}}))
    shown = ok(api("GET", f"/api/comfyui/generations/{gen['id']}", user=user))
    assert shown["status"] == "succeeded" and shown["outputs"][0]["content_type"] == "video/mp4"
    status, _, headers = api("GET", f"/api/comfyui/outputs/{gen['id']}/0", user=user)
    assert status == 302 and key in headers["Location"]
    assert api("GET", f"/api/comfyui/outputs/{gen['id']}/1", user=user)[0] == 404

    again = ok(api("POST", f"/api/tasks/{gen['id']}/rerun", user=user), 202)
    assert again["rerun_of"] == gen["id"] and again["session_id"] == sess["id"]
    assert store.get(again["id"]).request_snapshot == store.get(gen["id"]).request_snapshot  # type: ignore[union-attr]
    assert ok(api("GET", f"/api/comfyui/sessions/{sess['id']}", user=user))["generations"] == 2

    assert ok(api("DELETE", f"/api/comfyui/generations/{gen['id']}", user=user))["deleted"] is True
    assert api("GET", f"/api/comfyui/generations/{gen['id']}", user=user)[0] == 404
    assert "Contents" not in boto3.client("s3").list_objects_v2(Bucket=bucket, Prefix=f"outputs/{user}/{gen['id']}/")


def test_a_text_task_reruns_with_its_exact_request(api: Any, user: str) -> None:
    first = ok(api("POST", "/api/tasks", user=user, body={"type": "text", "provider": "openai",
                                                           "prompt": "again", "options": {"temperature": 0.3}}), 201)
    again = ok(api("POST", f"/api/tasks/{first['id']}/rerun", user=user), 202)
    assert again["id"] != first["id"] and again["rerun_of"] == first["id"]
    assert again["request_snapshot"] == first["request_snapshot"] and again["status"] == "queued"


def test_image_tasks_through_the_task_api_and_options(api: Any, stack: Any, user: str, comfy_agent: Any) -> None:
    created = ok(api("POST", "/api/tasks", user=user, body={
        "type": "image", "provider": "comfyui", "prompt": "a lighthouse", "parameters": {"steps": 4}}), 201)
    assert created["provider"] == "comfyui" and created["session_id"] is None
    sent = json.loads(created["request_snapshot"]["workflow"])
    assert sent["6"]["inputs"]["text"] == "a lighthouse" and sent["3"]["inputs"]["steps"] == 4
    assert 0 <= sent["3"]["inputs"]["seed"] < 2**63  # the default workflow's seed -1, drawn
    assert created["model"] == "v1-5-pruned-emaonly.safetensors"
    body = {"type": "image", "provider": "comfyui", "prompt": "once"}
    first = api("POST", "/api/tasks", user=user, body=body, headers={"idempotency-key": "gen-1"})
    again = api("POST", "/api/tasks", user=user, body=body, headers={"idempotency-key": "gen-1"})
    assert first[0] == again[0] == 201 and first[1]["data"]["id"] == again[1]["data"]["id"]
    assert again[2].get("Idempotent-Replayed") == "true"  # written like any task: the key, the quota
    mine = workflow(api, user, txt2img())
    from_mine = ok(api("POST", "/api/tasks", user=user, body={"type": "image", "provider": "comfyui",
                                                              "prompt": "a fox", "workflow_id": mine["id"]}), 201)
    assert from_mine["workflow_id"] == mine["id"] and '"text":"a fox"' in from_mine["request_snapshot"]["workflow"]
    other = api("POST", "/api/tasks", user=f"other-{user}", body={"type": "image", "provider": "comfyui",
                                                                  "prompt": "x", "workflow_id": mine["id"]})
    assert other[0] == 404
    refused = api("POST", "/api/tasks", user=user, body={"type": "image", "provider": "comfyui", "prompt": "x",
                                                         "image": {"size": "1024x1024"}})
    assert refused[0] == 400
    options = ok(api("GET", "/api/comfyui/options", user=user))
    assert AGENT in options["agents"] and "dpmpp_2m" in options["samplers"]
    assert "v1-5-pruned-emaonly.safetensors" in options["checkpoints"]


def test_no_live_comfyui_is_422_and_writes_nothing(api: Any, stack: Any, user: str) -> None:
    registry = AgentRegistry(stack.resources["Table"])
    if any((a.get("comfyui") or {}).get("up") for a in registry.live()):
        pytest.skip("another test's agent with ComfyUI is still live")
    made = workflow(api, user)
    sess = session(api, user, made["id"])
    status, body, _ = api("POST", f"/api/comfyui/sessions/{sess['id']}/generate", user=user, body={})
    assert status == 422 and body["error"]["code"] == "NOT_AVAILABLE"
    assert ok(api("GET", f"/api/comfyui/sessions/{sess['id']}", user=user))["generations"] == 0
    assert ok(api("GET", "/api/tasks", user=user)) == []
