"""ComfyUI through the local cloud as a user meets it: a workflow imported, a session, generations watched over
the WebSocket on the session's topic, outputs downloaded; the exact workflow ComfyUI received, a rerun, a cancel,
a refused workflow, a video output, and an agent killed mid-generation. The local agent drives the local fake of
ComfyUI (`make dev` labels it simulated); COMFYUI_URL makes it a real one."""

from __future__ import annotations

import json
import os
import signal
from typing import Any

import httpx

from tests.e2e.conftest import Cloud, Fleet, User, aws, receive, wait_for_status
from tests.e2e.test_gpu_agents_e2e import _replace_if_local, events, live_agents, wait_until

TXT2IMG = {
    "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "v1-5-pruned-emaonly.safetensors"}},
    "5": {"class_type": "EmptyLatentImage", "inputs": {"width": 96, "height": 64, "batch_size": 1}},
    "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "a red fox", "clip": ["4", 1]}},
    "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "blurry", "clip": ["4", 1]}},
    "3": {"class_type": "KSampler", "inputs": {
        "seed": -1, "steps": 6, "cfg": 7.0, "sampler_name": "euler", "scheduler": "normal", "denoise": 1.0,
        "model": ["4", 0], "positive": ["6", 0], "negative": ["7", 0], "latent_image": ["5", 0]}},
    "8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}},
    "9": {"class_type": "SaveImage", "inputs": {"images": ["8", 0], "filename_prefix": "spoon"}},
    "10": {"class_type": "VHS_VideoCombine", "inputs": {
        "images": ["8", 0], "frame_rate": 8, "loop_count": 0, "filename_prefix": "clip", "format": "video/h264-mp4",
        "pingpong": False, "save_output": True}},
}


def data(answer: httpx.Response, status: int = 200) -> Any:
    assert answer.status_code == status, answer.text
    return answer.json()["data"]


def comfy_session(user: User, **parameters: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    workflow = data(user.call("POST", "/comfyui/workflows", json={"name": "fox", "workflow": TXT2IMG}), 201)
    session = data(user.call("POST", "/comfyui/sessions", json={"name": "foxes", "workflow_id": workflow["id"],
                                                                "parameters": parameters}), 201)
    return workflow, session


def received_by_comfyui(cloud: Cloud, task: dict[str, Any]) -> dict[str, Any]:
    """The graph ComfyUI ran for a finished generation, from its own /history."""
    prompt_id = task["result"]["prompt_id"]
    history = httpx.get(f"{cloud.info['comfyui_url']}/history/{prompt_id}").json()[prompt_id]
    return dict(history["prompt"][2])


def test_a_session_generates_with_progress_outputs_and_only_its_owner_sees_it(
        cloud: Cloud, alice: User, bob: User) -> None:
    assert cloud.info["comfyui_simulated"] is True
    wait_until(lambda: any((a.get("comfyui") or {}).get("up") for a in live_agents(alice)))
    _, session = comfy_session(alice)
    with alice.socket() as ws:
        ws.send(json.dumps({"action": "subscribe", "topic": f"session:{session['id']}"}))
        assert receive(ws, lambda m: m["type"] in ("subscribed", "error"))[-1]["type"] == "subscribed"
        (generation,) = data(alice.call("POST", f"/comfyui/sessions/{session['id']}/generate",
                                        json={"parameters": {"steps": 20}}), 202)
        got = receive(ws, lambda m: m.get("event", {}).get("type") in ("generation:completed", "generation:failed"))
    kinds = [m["event"]["type"] for m in got if m["type"] == "event"]
    assert kinds[-1] == "generation:completed", got[-1]
    percents = [m["event"]["data"]["percent"] for m in got if m.get("event", {}).get("type") == "generation:progress"]
    assert percents and percents == sorted(percents) and percents[-1] == 100
    shown = data(alice.call("GET", f"/comfyui/generations/{generation['id']}"))
    kinds_out = {o["content_type"] for o in shown["outputs"]}
    assert kinds_out == {"image/png", "video/mp4"}  # the video lands like the image
    for output in shown["outputs"]:
        redirect = alice.call("GET", f"/comfyui/outputs/{generation['id']}/{output['index']}", follow_redirects=False)
        assert redirect.status_code == 302
        body = httpx.get(redirect.headers["location"])
        assert body.status_code == 200 and len(body.content) == output["bytes"]

    # Another user: 404 on every route of the session, and refused on its topic.
    for path in (f"/comfyui/sessions/{session['id']}", f"/comfyui/sessions/{session['id']}/generations",
                 f"/comfyui/generations/{generation['id']}", f"/comfyui/generations/{generation['id']}/workflow",
                 f"/comfyui/outputs/{generation['id']}/0", f"/tasks/{generation['id']}"):
        assert bob.call("GET", path).status_code == 404, path
    with bob.socket() as ws:
        ws.send(json.dumps({"action": "subscribe", "topic": f"session:{session['id']}"}))
        refused = receive(ws, lambda m: m["type"] in ("subscribed", "error"))[-1]
    assert refused["type"] == "error" and refused["error"]["code"] == "TOPIC_FORBIDDEN"
    counters = data(alice.call("GET", f"/comfyui/sessions/{session['id']}"))
    assert counters["generations"] == 1
    wait_until(lambda: data(alice.call("GET", f"/comfyui/sessions/{session['id']}"))["completed"] == 1)


def test_comfyui_receives_exactly_the_stored_workflow_and_rerun_sends_it_again(cloud: Cloud, alice: User) -> None:
    _, session = comfy_session(alice)
    (generation,) = data(alice.call("POST", f"/comfyui/sessions/{session['id']}/generate", json={}), 202)
    first = wait_for_status(alice, generation["id"], {"succeeded", "failed"})
    assert first["status"] == "succeeded", first
    stored = data(alice.call("GET", f"/comfyui/generations/{generation['id']}/workflow"))
    sent = received_by_comfyui(cloud, first)
    assert sent == stored["workflow"] == json.loads(first["request_snapshot"]["workflow"])
    assert sent["3"]["inputs"]["seed"] == generation["parameters"]["seed"] != -1  # resolved, and kept

    again = data(alice.call("POST", f"/tasks/{generation['id']}/rerun"), 202)
    second = wait_for_status(alice, again["id"], {"succeeded", "failed"})
    assert second["status"] == "succeeded" and second["rerun_of"] == generation["id"]
    assert received_by_comfyui(cloud, second) == sent


def test_cancel_interrupts_and_a_refused_workflow_fails_naming_node_and_input(cloud: Cloud, alice: User) -> None:
    _, session = comfy_session(alice)
    (long,) = data(alice.call("POST", f"/comfyui/sessions/{session['id']}/generate",
                              json={"parameters": {"steps": 400}}), 202)
    wait_until(lambda: any(e["type"] == "generation:progress" and e["data"]["percent"] > 0
                           for e in events(alice, long["id"])))
    assert alice.call("DELETE", f"/tasks/{long['id']}").status_code == 200
    done = wait_for_status(alice, long["id"], {"cancelled"})
    assert events(alice, long["id"])[-1]["type"] == "generation:cancelled" and done["result"] is None
    # ComfyUI was told (/interrupt): its history has the prompt ended interrupted, well before its 400 steps.
    def interrupted() -> bool:
        history = httpx.get(f"{cloud.info['comfyui_url']}/history").json().values()
        ran = [h for h in history if h["prompt"][2]["3"]["inputs"].get("seed") == long["parameters"]["seed"]]
        return bool(ran) and any(m[0] == "execution_interrupted" for m in ran[0]["status"]["messages"])

    wait_until(interrupted, timeout=15)

    broken = {**TXT2IMG, "8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0]}}}
    workflow = data(alice.call("POST", "/comfyui/workflows", json={"name": "broken", "workflow": broken}), 201)
    task = data(alice.call("POST", "/tasks", json={"type": "image", "provider": "comfyui", "prompt": "x",
                                                    "workflow_id": workflow["id"]}), 201)
    failed = wait_for_status(alice, task["id"], {"failed", "succeeded"})
    assert failed["status"] == "failed" and failed["error"]["code"] == "BAD_REQUEST"
    assert "node 8" in failed["error"]["message"] and "vae" in failed["error"]["message"]


def test_an_agent_killed_mid_generation_loses_nothing(cloud: Cloud, alice: User, fleet: Fleet) -> None:
    fleet.start("e2e-comfy-kill")
    wait_until(lambda: any(a["agent_id"] == "e2e-comfy-kill" and (a.get("comfyui") or {}).get("up")
                           for a in live_agents(alice)))
    _, session = comfy_session(alice)
    (generation,) = data(alice.call("POST", f"/comfyui/sessions/{session['id']}/generate",
                                    json={"parameters": {"steps": 160}}), 202)
    holder = str(wait_until(lambda: (t := alice.call("GET", f"/tasks/{generation['id']}").json()["data"])[
        "status"] == "running" and any(e["type"] == "generation:progress" for e in events(alice, generation["id"]))
        and t["metadata"].get("agent_id")))
    os.kill(fleet.pids[holder], signal.SIGKILL)
    try:
        done = wait_for_status(alice, generation["id"], {"succeeded", "failed"}, timeout=120)
        assert done["status"] == "succeeded", done
        assert done["metadata"]["agent_id"] != holder and done["lost_runs"] == 1
        kinds = [e["type"] for e in events(alice, generation["id"])]
        assert kinds.count("generation:completed") == 1 and kinds.count("task:started") == 2
        outputs = done["result"]["outputs"]
        assert sorted(o["index"] for o in outputs) == [0, 1]
        stored = aws(cloud, "s3").list_objects_v2(Bucket=cloud.info["resources"]["Bucket"],
                                                  Prefix=f"outputs/{alice.id}/{generation['id']}/")
        assert sorted(o["Key"] for o in stored["Contents"]) == sorted(o["key"] for o in outputs)  # one set
    finally:
        _replace_if_local(fleet, holder)
        fleet.retire("e2e-comfy-kill")
