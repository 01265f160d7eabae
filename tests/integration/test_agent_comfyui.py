"""The GPU agent runs ComfyUI generations (comfyui tasks) on the fake ComfyUI, against moto's server: the stored
workflow is sent as is, progress arrives as generation:progress, every output kind lands in S3, cancel interrupts
the prompt, refused and failing workflows fail the task naming the node, and the heartbeat reports ComfyUI."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from localcloud.fakes.comfyui_server import FakeComfyUI
from localcloud.fakes.ollama_server import FakeOllama
from spoonfeeder import ids
from spoonfeeder.data.agents import AgentRegistry
from spoonfeeder.data.task_store import TaskStore
from spoonfeeder.models.events import EventType
from spoonfeeder.models.kinds import TaskStatus
from spoonfeeder.models.task_record import Task
from spoonfeeder.tasks import dispatch
from spoonfeeder.tasks.routing import Lane

from tests.integration.test_comfyui_driver import media_graph
from tests.integration.test_fake_comfyui import SMOKE, png_size, txt2img
from tests.integration.test_gpu_agent import MODEL, wait_for

USER = "user-comfy-agent"


@pytest.fixture
def comfyui() -> Iterator[FakeComfyUI]:
    with FakeComfyUI(step_delay=0.02) as fake:
        yield fake


@pytest.fixture
def ollama() -> Iterator[FakeOllama]:
    with FakeOllama(models=(MODEL,)) as fake:
        yield fake


def generate(stack: Any, workflow: dict[str, Any], *, owner: str = USER) -> Task:
    """A generation as the API creates it: queued, its final workflow in the snapshot, its message sent."""
    store = TaskStore(stack.resources["Table"], stack.resources["Bucket"])
    at = ids.now_iso()
    task = Task(id=ids.new_id(), owner=owner, type="image", provider="comfyui", model="comfyui",
                status=TaskStatus.QUEUED, created_at=at, updated_at=at, parameters={"seed": 7},
                request_snapshot={"type": "image", "provider": "comfyui", "model": "comfyui",
                                  "workflow": json.dumps(workflow, separators=(",", ":"))})
    store.create(task, [(EventType.CREATED, {}), (EventType.QUEUED, {"by": "test"})], None)
    dispatch.send({Lane.GPU: str(stack.resources["GpuTasksQueue"])}, task)
    return task


def finished(stack: Any, task_id: str, timeout: float = 30.0) -> Task:
    store = TaskStore(stack.resources["Table"])
    return wait_for(lambda: (t if (t := store.get(task_id)) and t.status.terminal else None), timeout)


def event_types(stack: Any, task_id: str) -> list[tuple[str, dict[str, Any]]]:
    events, _ = TaskStore(stack.resources["Table"]).events(task_id, limit=500)
    return [(e.type, e.data) for e in events]


def s3_bytes(stack: Any, key: str) -> tuple[bytes, str]:
    got = boto3.client("s3").get_object(Bucket=stack.resources["Bucket"], Key=key)
    return got["Body"].read(), got["ContentType"]


def test_a_generation_sends_the_stored_workflow_and_stores_every_output(
        stack: Any, start_agent: Any, ollama: FakeOllama, comfyui: FakeComfyUI) -> None:
    start_agent(ollama, comfyui_url=comfyui.base_url, comfyui_simulated=True)
    workflow = media_graph()  # an image, a GIF, an MP4 and a WAV
    task = generate(stack, workflow)
    done = finished(stack, task.id)
    assert done.status is TaskStatus.SUCCEEDED, done.error
    stored = TaskStore(stack.resources["Table"]).get(task.id).request_snapshot["workflow"]  # type: ignore[union-attr]
    assert stored.encode() in comfyui.prompts[-1]["raw"]  # the stored text, byte for byte
    assert comfyui.prompts[-1]["json"]["prompt"] == workflow
    recorded = event_types(stack, task.id)
    percents = [data["percent"] for kind, data in recorded if kind == "generation:progress"]
    assert percents and percents == sorted(percents) and percents[-1] == 100
    assert recorded[-1][0] == "generation:completed"
    outputs = done.result.outputs if done.result else []
    kinds = {o.kind for o in outputs}
    assert {"images", "gifs", "audio"} <= kinds
    for output in outputs:
        body, content_type = s3_bytes(stack, output.key)
        assert output.key.startswith(f"outputs/{USER}/{task.id}/attempt-1/")
        assert len(body) == output.bytes and content_type == output.content_type
        assert any(body == comfyui.store.read(kind, sub, name) for kind, sub, name in comfyui.files
                   if name == output.filename)  # the very bytes ComfyUI served
    videos = [o for o in outputs if o.content_type == "video/mp4"]
    assert videos, "the MP4 landed like an image"
    pictures = [o for o in outputs if o.content_type == "image/png"]
    assert pictures and all((o.width, o.height) == png_size(s3_bytes(stack, o.key)[0]) for o in pictures)
    assert done.metadata.get("simulated") is True and done.result.provider == "comfyui"


def test_cancel_mid_run_interrupts_comfyui(stack: Any, start_agent: Any, ollama: FakeOllama, api: Any,
                                           comfyui: FakeComfyUI) -> None:
    comfyui.step_delay = 0.3
    start_agent(ollama, comfyui_url=comfyui.base_url)
    task = generate(stack, txt2img(steps=40))
    wait_for(lambda: any(kind == "generation:progress" and data["percent"] > 0
                         for kind, data in event_types(stack, task.id)))
    status, _, _ = api("DELETE", f"/api/tasks/{task.id}", user=USER)
    assert status == 200
    wait_for(lambda: comfyui.calls.get("interrupt", 0) >= 1 or None)
    done = finished(stack, task.id)
    assert done.status is TaskStatus.CANCELLED and done.result is None
    assert event_types(stack, task.id)[-1][0] == "generation:cancelled"


def test_a_refused_workflow_fails_naming_the_node_and_input(
        stack: Any, start_agent: Any, ollama: FakeOllama, comfyui: FakeComfyUI) -> None:
    start_agent(ollama, comfyui_url=comfyui.base_url)
    broken = json.loads(json.dumps(SMOKE))
    del broken["2"]["inputs"]["image"]
    done = finished(stack, generate(stack, broken).id)
    assert done.status is TaskStatus.FAILED and done.error is not None
    assert done.error.code == "BAD_REQUEST" and "node 2" in done.error.message and "image" in done.error.message


def test_a_failing_node_fails_the_task_with_its_exception(
        stack: Any, start_agent: Any, ollama: FakeOllama, comfyui: FakeComfyUI) -> None:
    start_agent(ollama, comfyui_url=comfyui.base_url)
    comfyui.fail_next("2", exception="out of memory", exception_type="torch.OutOfMemoryError")
    done = finished(stack, generate(stack, SMOKE).id)
    assert done.status is TaskStatus.FAILED and done.error is not None
    assert ("2" in done.error.message and "out of memory" in done.error.message.lower()) or \
        "OutOfMemoryError" in json.dumps(done.error.to_dict())


def test_a_dropped_websocket_still_completes_through_history(
        stack: Any, start_agent: Any, ollama: FakeOllama, comfyui: FakeComfyUI) -> None:
    start_agent(ollama, comfyui_url=comfyui.base_url)
    comfyui.drop_websocket_after(3)
    done = finished(stack, generate(stack, txt2img(steps=8)).id)
    assert done.status is TaskStatus.SUCCEEDED and done.result and len(done.result.outputs or []) == 1


def test_an_input_image_named_by_upload_id_is_uploaded_first(
        stack: Any, start_agent: Any, ollama: FakeOllama, comfyui: FakeComfyUI) -> None:
    from localcloud.fakes.comfyui_media import png

    start_agent(ollama, comfyui_url=comfyui.base_url)
    key = f"uploads/{USER}/{ids.new_id()}/fox.png"
    boto3.client("s3").put_object(Bucket=stack.resources["Bucket"], Key=key, Body=png(20, 10, 0x010203),
                                  ContentType="image/png")
    workflow = {"1": {"class_type": "LoadImage", "inputs": {"image": key}},
                "2": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}},
                "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": "in"}}}
    task = generate(stack, workflow)
    done = finished(stack, task.id)
    assert done.status is TaskStatus.SUCCEEDED, done.error
    sent = comfyui.prompts[-1]["json"]["prompt"]
    assert sent["1"]["inputs"]["image"] == "fox.png" and ("input", "", "fox.png") in comfyui.files
    assert json.loads(done.request_snapshot["workflow"])["1"]["inputs"]["image"] == key  # the snapshot is untouched
    assert (done.result.outputs[0].width, done.result.outputs[0].height) == (20, 10)


def test_the_heartbeat_reports_comfyui_and_its_options(
        stack: Any, start_agent: Any, ollama: FakeOllama, comfyui: FakeComfyUI) -> None:
    agent = start_agent(ollama, comfyui_url=comfyui.base_url)
    registry = AgentRegistry(stack.resources["Table"])
    mine = wait_for(lambda: next((a for a in registry.live() if a["agent_id"] == agent.id and "comfyui" in a), None))
    report = mine["comfyui"]
    assert report["up"] is True and report["version"] and report["devices"][0]["type"] == "cuda"
    assert "v1-5-pruned-emaonly.safetensors" in report["options"]["checkpoints"]
    assert "euler" in report["options"]["samplers"] and report["options"]["schedulers"]
    assert mine["capabilities"]["comfyui"] is True
