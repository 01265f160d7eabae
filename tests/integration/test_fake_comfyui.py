"""The fake ComfyUI must look like a real ComfyUI to a client built on plain httpx and `websockets`: the HTTP routes,
the WebSocket message order, history, /view, interrupts, validation errors and cached reruns."""

from __future__ import annotations

import json
import struct
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from localcloud.fakes.comfyui_server import FakeComfyUI
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

SMOKE = {"1": {"class_type": "EmptyImage", "inputs": {"width": 64, "height": 48, "batch_size": 1, "color": 0xFF0000}},
         "2": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}},
         "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": "smoke"}}}


def txt2img(seed: int = 7, steps: int = 3, ckpt: str = "v1-5-pruned-emaonly.safetensors") -> dict[str, Any]:
    return {
        "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": ckpt}},
        "5": {"class_type": "EmptyLatentImage", "inputs": {"width": 96, "height": 64, "batch_size": 1}},
        "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "a red fox", "clip": ["4", 1]}},
        "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "blurry", "clip": ["4", 1]}},
        "3": {"class_type": "KSampler", "inputs": {
            "seed": seed, "steps": steps, "cfg": 7.5, "sampler_name": "euler", "scheduler": "normal", "denoise": 1.0,
            "model": ["4", 0], "positive": ["6", 0], "negative": ["7", 0], "latent_image": ["5", 0]}},
        "8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}},
        "9": {"class_type": "SaveImage", "inputs": {"images": ["8", 0], "filename_prefix": "ComfyUI"}}}


@pytest.fixture
def comfy() -> Iterator[FakeComfyUI]:
    with FakeComfyUI() as server:
        yield server


def ws_url(server: FakeComfyUI, client_id: str) -> str:
    return server.base_url.replace("http://", "ws://") + f"/ws?clientId={client_id}"


def submit(server: FakeComfyUI, graph: dict[str, Any], client_id: str) -> httpx.Response:
    return httpx.post(server.base_url + "/prompt", json={"prompt": graph, "client_id": client_id})


def until_done(ws: ClientConnection, prompt_id: str) -> list[dict[str, Any]]:
    """Text messages up to and including `executing` with node null for `prompt_id`."""
    seen: list[dict[str, Any]] = []
    while True:
        message = json.loads(ws.recv(timeout=10))
        seen.append(message)
        data = message["data"]
        if message["type"] == "executing" and data["node"] is None and data["prompt_id"] == prompt_id:
            return seen


def run(server: FakeComfyUI, graph: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    client_id = uuid.uuid4().hex
    with connect(ws_url(server, client_id)) as ws:
        first = json.loads(ws.recv(timeout=5))
        answer = submit(server, graph, client_id)
        assert answer.status_code == 200, answer.text
        prompt_id = answer.json()["prompt_id"]
        return prompt_id, [first, *until_done(ws, prompt_id)]


def kinds(messages: list[dict[str, Any]]) -> list[str]:
    return [m["type"] for m in messages]


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def test_readiness_stats_and_queue(comfy: FakeComfyUI) -> None:
    assert httpx.get(comfy.base_url + "/").status_code == 200
    stats = httpx.get(comfy.base_url + "/system_stats").json()
    assert stats["system"]["comfyui_version"] and stats["devices"][0]["type"] == "cuda"
    assert httpx.get(comfy.base_url + "/api/system_stats").json() == stats  # every route also under /api
    assert httpx.get(comfy.base_url + "/queue").json() == {"queue_running": [], "queue_pending": []}
    assert httpx.get(comfy.base_url + "/prompt").json() == {"exec_info": {"queue_remaining": 0}}


def test_message_order_of_a_sampled_prompt(comfy: FakeComfyUI) -> None:
    prompt_id, messages = run(comfy, txt2img(steps=3))
    order = kinds(messages)
    assert messages[0]["type"] == "status" and messages[0]["data"]["sid"]
    assert order.index("execution_start") < order.index("execution_cached") < order.index("executing")
    assert order[-3:] == ["execution_success", "status", "executing"]
    progress = [m["data"] for m in messages if m["type"] == "progress"]
    assert [(p["value"], p["max"], p["node"]) for p in progress] == [(1, 3, "3"), (2, 3, "3"), (3, 3, "3")]
    executing = [m["data"]["node"] for m in messages if m["type"] == "executing"]
    assert executing[-1] is None and set(executing[:-1]) == {"3", "4", "5", "6", "7", "8", "9"}
    assert executing.index("4") < executing.index("6") < executing.index("3") < executing.index("8")
    states = [m["data"]["nodes"] for m in messages if m["type"] == "progress_state"]
    assert states[-1]["9"]["state"] == "finished" and states[-1]["3"]["value"] == 3
    assert {"node_id", "prompt_id", "display_node_id", "real_node_id"} <= set(states[-1]["3"])
    executed = [m["data"] for m in messages if m["type"] == "executed"]
    assert [e["node"] for e in executed] == ["9"]
    assert executed[0]["output"]["images"][0]["filename"] == "ComfyUI_00001_.png"
    assert all(m["data"].get("prompt_id", prompt_id) == prompt_id for m in messages if m["type"] != "status")


def test_history_and_view_serve_a_real_png(comfy: FakeComfyUI) -> None:
    prompt_id, _ = run(comfy, txt2img())
    history = httpx.get(comfy.base_url + f"/history/{prompt_id}").json()[prompt_id]
    assert history["status"]["status_str"] == "success" and history["status"]["completed"] is True
    assert [m[0] for m in history["status"]["messages"]] == ["execution_start", "execution_cached",
                                                           "execution_success"]
    assert history["prompt"][1] == prompt_id and history["prompt"][4] == ["9"]
    image = history["outputs"]["9"]["images"][0]
    assert image["type"] == "output" and image["subfolder"] == ""
    view = httpx.get(comfy.base_url + "/view", params=image | {"filename": image["filename"]})
    assert view.status_code == 200 and view.headers["content-type"] == "image/png"
    assert png_size(view.content) == (96, 64)
    assert b"tEXtprompt" in view.content  # SaveImage stores the graph in the PNG, as ComfyUI does
    assert httpx.get(comfy.base_url + "/history").json().keys() == {prompt_id}


def test_history_is_empty_until_the_prompt_finishes() -> None:
    with FakeComfyUI(step_delay=0.05) as comfy:
        answer = submit(comfy, txt2img(steps=10), "nobody")
        prompt_id = answer.json()["prompt_id"]
        assert httpx.get(comfy.base_url + f"/history/{prompt_id}").json() == {}
        assert httpx.get(comfy.base_url + "/queue").json()["queue_running"][0][1] == prompt_id
        deadline = time.monotonic() + 10
        while not httpx.get(comfy.base_url + f"/history/{prompt_id}").json() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert httpx.get(comfy.base_url + f"/history/{prompt_id}").json()[prompt_id]["outputs"]["9"]


def test_smoke_graph_inverts_the_colour(comfy: FakeComfyUI) -> None:
    prompt_id, messages = run(comfy, SMOKE)
    assert "progress" not in kinds(messages)  # weightless nodes report no steps
    image = comfy.history(prompt_id)["outputs"]["3"]["images"][0]  # type: ignore[index]
    assert image["filename"] == "smoke_00001_.png"
    data = httpx.get(comfy.base_url + "/view", params=image).content
    assert png_size(data) == (64, 48)
    assert ("output", "", "smoke_00001_.png") in comfy.files


def test_identical_rerun_is_cached_and_writes_no_file(comfy: FakeComfyUI) -> None:
    first_id, _ = run(comfy, SMOKE)
    files = comfy.files
    second_id, messages = run(comfy, SMOKE)
    cached = next(m["data"] for m in messages if m["type"] == "execution_cached")
    assert sorted(cached["nodes"]) == ["1", "2", "3"]
    assert [m["data"]["node"] for m in messages if m["type"] == "executing"] == [None]
    assert comfy.files == files
    assert comfy.history(second_id)["outputs"] == comfy.history(first_id)["outputs"]  # type: ignore[index]
    changed = json.loads(json.dumps(SMOKE))
    changed["3"]["inputs"]["filename_prefix"] = "other"
    third_id, _ = run(comfy, changed)
    assert comfy.history(third_id)["outputs"]["3"]["images"][0]["filename"] == "other_00001_.png"  # type: ignore


def test_prompt_bodies_are_recorded_byte_for_byte(comfy: FakeComfyUI) -> None:
    body = json.dumps({"prompt": SMOKE, "client_id": "c1", "extra_data": {"extra_pnginfo": {}}}).encode()
    answer = httpx.post(comfy.base_url + "/prompt", content=body, headers={"Content-Type": "application/json"})
    assert answer.status_code == 200 and answer.json()["node_errors"] == {}
    assert comfy.prompts[-1]["raw"] == body and comfy.prompts[-1]["json"]["prompt"] == SMOKE
    assert comfy.calls["prompt"] == 1


def test_unknown_value_gives_node_errors(comfy: FakeComfyUI) -> None:
    answer = submit(comfy, txt2img(ckpt="x.safetensors"), "c")
    assert answer.status_code == 400
    body = answer.json()
    assert body["error"]["type"] == "prompt_outputs_failed_validation"
    node = body["node_errors"]["4"]
    assert node["class_type"] == "CheckpointLoaderSimple" and node["dependent_outputs"] == ["9"]
    error = node["errors"][0]
    assert error["type"] == "value_not_in_list"
    assert error["extra_info"]["input_name"] == "ckpt_name" and error["extra_info"]["received_value"] == "x.safetensors"
    assert httpx.get(comfy.base_url + "/queue").json()["queue_pending"] == []


@pytest.mark.parametrize(("change", "kind"), [
    (lambda g: g["3"]["inputs"].pop("steps"), "required_input_missing"),
    (lambda g: g["3"]["inputs"].update(steps=0), "value_smaller_than_min"),
    (lambda g: g["3"]["inputs"].update(cfg=101), "value_bigger_than_max"),
    (lambda g: g["3"]["inputs"].update(steps="many"), "invalid_input_type"),
    (lambda g: g["3"]["inputs"].update(model=["5", 0]), "return_type_mismatch"),
])
def test_each_kind_of_input_error(comfy: FakeComfyUI, change: Any, kind: str) -> None:
    graph = txt2img()
    change(graph)
    answer = submit(comfy, graph, "c")
    assert answer.status_code == 400
    assert [e["type"] for e in answer.json()["node_errors"]["3"]["errors"]] == [kind]


def test_prompt_level_errors_and_malformed_json(comfy: FakeComfyUI) -> None:
    unknown = submit(comfy, {"1": {"class_type": "NoSuchNode", "inputs": {}}}, "c")
    assert unknown.status_code == 400
    assert unknown.json()["error"]["type"] == "missing_node_type" and unknown.json()["node_errors"] == {}
    assert unknown.json()["error"]["extra_info"]["class_type"] == "NoSuchNode"
    no_output = submit(comfy, {"1": SMOKE["1"]}, "c")
    assert no_output.status_code == 400 and no_output.json()["error"]["type"] == "prompt_no_outputs"
    missing = httpx.post(comfy.base_url + "/prompt", json={"client_id": "c"})
    assert missing.status_code == 400 and missing.json()["error"]["type"] == "no_prompt"
    malformed = httpx.post(comfy.base_url + "/prompt", content=b"{not json",
                           headers={"Content-Type": "application/json"})
    assert malformed.status_code == 500


def test_execution_error_names_the_node(comfy: FakeComfyUI) -> None:
    comfy.fail_next(node_id="3", exception="CUDA out of memory", exception_type="torch.OutOfMemoryError")
    prompt_id, messages = run(comfy, txt2img())
    order = kinds(messages)
    assert "execution_success" not in order and order[-1] == "executing"
    error = next(m["data"] for m in messages if m["type"] == "execution_error")
    assert (error["node_id"], error["node_type"]) == ("3", "KSampler")
    assert error["exception_message"] == "CUDA out of memory" and error["exception_type"] == "torch.OutOfMemoryError"
    assert "3" not in error["executed"] and "4" in error["executed"]
    status = comfy.history(prompt_id)["status"]  # type: ignore[index]
    assert status["status_str"] == "error" and status["completed"] is False
    assert status["messages"][-1][0] == "execution_error"


def test_interrupt_lands_between_steps_and_nodes() -> None:
    with FakeComfyUI(step_delay=0.05) as comfy:
        client_id = "watcher"
        with connect(ws_url(comfy, client_id)) as ws:
            prompt_id = submit(comfy, txt2img(steps=50), client_id).json()["prompt_id"]
            while True:  # interrupt once sampling is under way
                message = json.loads(ws.recv(timeout=10))
                if message["type"] == "progress" and message["data"]["value"] == 2:
                    break
            assert httpx.post(comfy.base_url + "/interrupt", json={"prompt_id": prompt_id}).status_code == 200
            messages = until_done(ws, prompt_id)
        interrupted = next(m["data"] for m in messages if m["type"] == "execution_interrupted")
        assert interrupted["node_id"] == "3" and interrupted["node_type"] == "KSampler"
        assert all(m["data"]["value"] < 50 for m in messages if m["type"] == "progress")
        assert "execution_success" not in kinds(messages) and "executed" not in kinds(messages)
        assert comfy.calls["interrupt"] == 1
        assert comfy.history(prompt_id)["status"]["status_str"] == "error"  # type: ignore[index]
        assert not [f for f in comfy.files if f[0] == "output"]


def test_interrupt_of_another_prompt_changes_nothing(comfy: FakeComfyUI) -> None:
    assert httpx.post(comfy.base_url + "/interrupt", json={"prompt_id": str(uuid.uuid4())}).status_code == 200
    _, messages = run(comfy, SMOKE)
    assert "execution_success" in kinds(messages)


def test_object_info_has_both_combo_shapes(comfy: FakeComfyUI) -> None:
    info = httpx.get(comfy.base_url + "/object_info").json()
    ckpt = info["CheckpointLoaderSimple"]["input"]["required"]["ckpt_name"]
    assert ckpt[0] == ["v1-5-pruned-emaonly.safetensors", "sd_xl_base_1.0.safetensors"]  # [[choices], {opts}]
    assert "add_detail.safetensors" in info["LoraLoader"]["input"]["required"]["lora_name"][0]
    ksampler = info["KSampler"]["input"]["required"]
    assert "euler" in ksampler["sampler_name"][0] and "karras" in ksampler["scheduler"][0]
    v3 = info["KSamplerSelect"]["input"]["required"]["sampler_name"]
    assert v3[0] == "COMBO" and v3[1]["options"] == ksampler["sampler_name"][0]
    assert info["SaveImage"]["output_node"] is True and info["KSampler"]["output"] == ["LATENT"]
    one = httpx.get(comfy.base_url + "/object_info/KSampler").json()
    assert one == {"KSampler": info["KSampler"]}
    assert httpx.get(comfy.base_url + "/object_info/Nope").json() == {}


def test_upload_then_load_image(comfy: FakeComfyUI) -> None:
    from localcloud.fakes.comfyui_media import png
    picture = png(40, 30, 0x00FF00)
    url = comfy.base_url + "/upload/image"
    first = httpx.post(url, files={"image": ("in.png", picture, "image/png")}, data={"type": "input"}).json()
    assert first == {"name": "in.png", "subfolder": "", "type": "input"}
    same = httpx.post(url, files={"image": ("in.png", picture, "image/png")}).json()
    assert same["name"] == "in.png"  # identical content keeps its name
    other = httpx.post(url, files={"image": ("in.png", png(8, 8, 0), "image/png")}).json()
    assert other["name"] == "in (1).png"
    assert httpx.post(url, data={"type": "input"}).status_code == 400
    assert comfy.calls["upload"] == 3
    graph = {"1": {"class_type": "LoadImage", "inputs": {"image": "in.png"}},
             "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "loaded"}}}
    prompt_id, _ = run(comfy, graph)
    image = comfy.history(prompt_id)["outputs"]["2"]["images"][0]  # type: ignore[index]
    assert png_size(httpx.get(comfy.base_url + "/view", params=image).content) == (40, 30)
    refused = submit(comfy, {**graph, "1": {"class_type": "LoadImage", "inputs": {"image": "absent.png"}}}, "c")
    assert refused.status_code == 400 and refused.json()["node_errors"]["1"]["errors"][0]["type"] == "value_not_in_list"


def test_view_refuses_bad_paths(comfy: FakeComfyUI) -> None:
    view = comfy.base_url + "/view"
    assert httpx.get(view, params={"filename": "absent.png"}).status_code == 404
    assert httpx.get(view, params={"filename": "../etc/passwd"}).status_code == 400
    assert httpx.get(view, params={"filename": "x.png", "subfolder": "../.."}).status_code == 403


def test_video_and_audio_outputs(comfy: FakeComfyUI) -> None:
    frames = {"class_type": "EmptyImage", "inputs": {"width": 32, "height": 24, "batch_size": 4, "color": 0x336699}}
    graph = {"1": frames,
             "2": {"class_type": "VHS_VideoCombine", "inputs": {
                 "images": ["1", 0], "frame_rate": 8, "loop_count": 0, "filename_prefix": "clip",
                 "format": "image/gif", "pingpong": False, "save_output": True}},
             "3": {"class_type": "VHS_VideoCombine", "inputs": {
                 "images": ["1", 0], "frame_rate": 8, "loop_count": 0, "filename_prefix": "movie",
                 "format": "video/h264-mp4", "pingpong": False, "save_output": True}},
             "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "v1-5-pruned-emaonly.safetensors"}},
             "5": {"class_type": "EmptyLatentAudio", "inputs": {"seconds": 1.0, "batch_size": 1}},
             "6": {"class_type": "VAEDecodeAudio", "inputs": {"samples": ["5", 0], "vae": ["4", 2]}},
             "7": {"class_type": "SaveAudio", "inputs": {"audio": ["6", 0], "filename_prefix": "audio/ComfyUI"}}}
    prompt_id, _ = run(comfy, graph)
    outputs = comfy.history(prompt_id)["outputs"]  # type: ignore[index]
    gif, mp4 = outputs["2"]["gifs"][0], outputs["3"]["gifs"][0]
    assert gif["filename"] == "clip_00001.gif" and gif["format"] == "image/gif" and gif["frame_rate"] == 8
    served = httpx.get(comfy.base_url + "/view", params={k: gif[k] for k in ("filename", "subfolder", "type")})
    assert served.headers["content-type"] == "image/gif" and served.content[:6] == b"GIF89a"
    assert struct.unpack("<HH", served.content[6:10]) == (32, 24) and served.content.count(b"\x2c\x00\x00") >= 4
    movie = httpx.get(comfy.base_url + "/view", params={k: mp4[k] for k in ("filename", "subfolder", "type")})
    assert movie.headers["content-type"] == "video/mp4" and movie.content[4:8] == b"ftyp"
    audio = outputs["7"]["audio"][0]
    assert (audio["subfolder"], audio["filename"]) == ("audio", "ComfyUI_00001_.wav")
    sound = httpx.get(comfy.base_url + "/view", params=audio)
    assert sound.headers["content-type"] in ("audio/wav", "audio/x-wav") and sound.content[8:12] == b"WAVE"


def test_dropped_socket_reconnects_and_history_has_the_result() -> None:
    with FakeComfyUI(step_delay=0.02) as comfy:
        client_id = "flaky"
        with connect(ws_url(comfy, client_id)) as ws:
            ws.recv(timeout=5)
            comfy.drop_websocket_after(3)
            prompt_id = submit(comfy, txt2img(steps=20), client_id).json()["prompt_id"]
            with pytest.raises(ConnectionClosed):
                while True:
                    ws.recv(timeout=10)
        with connect(ws_url(comfy, client_id)) as again:
            hello = json.loads(again.recv(timeout=5))
            assert hello["type"] == "status" and hello["data"]["sid"] == client_id
            resumed = json.loads(again.recv(timeout=5))
            assert resumed["type"] == "executing" and resumed["data"]["node"] is not None  # told where the run is
            rest = until_done(again, prompt_id)
        assert "execution_success" in kinds(rest)
        assert comfy.history(prompt_id)["status"]["status_str"] == "success"  # type: ignore[index]


def test_events_go_only_to_the_named_client(comfy: FakeComfyUI) -> None:
    with connect(ws_url(comfy, "bystander")) as other:
        other.recv(timeout=5)
        run(comfy, SMOKE)
        seen: list[str] = []
        try:
            while True:
                seen.append(json.loads(other.recv(timeout=0.3))["type"])
        except TimeoutError:
            pass
    assert seen and set(seen) == {"status"}


def test_feature_flags_reply(comfy: FakeComfyUI) -> None:
    with connect(ws_url(comfy, "flags")) as ws:
        ws.recv(timeout=5)
        ws.send(json.dumps({"type": "feature_flags", "data": {"supports_preview_metadata": True}}))
        reply = json.loads(ws.recv(timeout=5))
    assert reply["type"] == "feature_flags" and reply["data"]["supports_preview_metadata"] is True


@pytest.mark.parametrize("starting_status", [None, 503])
def test_not_ready_while_starting(starting_status: int | None) -> None:
    with FakeComfyUI(start_delay=0.6, starting_status=starting_status) as comfy:
        if starting_status is None:
            with pytest.raises(httpx.ConnectError):
                httpx.get(comfy.base_url + "/", timeout=1)
        else:
            assert httpx.get(comfy.base_url + "/").status_code == 503
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                if httpx.get(comfy.base_url + "/", timeout=1).status_code == 200:
                    break
            except httpx.ConnectError:
                pass
            time.sleep(0.1)
        assert httpx.get(comfy.base_url + "/system_stats").status_code == 200


def test_queue_orders_prompts_and_counts_them() -> None:
    with FakeComfyUI(step_delay=0.02) as comfy:
        ids = [submit(comfy, txt2img(seed=seed, steps=5), "nobody").json()["prompt_id"] for seed in (1, 2, 3)]
        queue = httpx.get(comfy.base_url + "/queue").json()
        assert [item[1] for item in queue["queue_pending"]] == ids[len(ids) - len(queue["queue_pending"]):]
        done = threading.Event()
        deadline = time.monotonic() + 10
        while not done.is_set() and time.monotonic() < deadline:
            if all(comfy.history(pid) for pid in ids):
                done.set()
            time.sleep(0.05)
        assert done.is_set()
        names = [comfy.history(pid)["outputs"]["9"]["images"][0]["filename"] for pid in ids]  # type: ignore[index]
        assert names == ["ComfyUI_00001_.png", "ComfyUI_00002_.png", "ComfyUI_00003_.png"]
