"""The agent's ComfyUI driver against the fake ComfyUI over HTTP and WebSocket: a run with rising, coalesced
progress, outputs of every kind streamed through a sink, refused and failing workflows, cancel and interrupt,
a dropped socket, readiness, inventory, upload and the transport errors."""

from __future__ import annotations

import io
import socket
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from localcloud.fakes.comfyui_media import png
from localcloud.fakes.comfyui_server import FakeComfyUI
from localcloud.moto_process import free_port
from spoon_agent import comfyui_driver
from spoon_agent.comfyui_driver import ComfyUI, Interrupted
from spoonfeeder.providers.base import ErrorCode, ProviderError

from tests.conftest import eventually
from tests.integration.test_fake_comfyui import SMOKE, png_size, txt2img


class Cancelled(Exception):
    """What the runner's event write raises once the task was cancelled."""


class Sink(io.BytesIO):
    """A writable target that remembers the size of each write."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[int] = []

    def write(self, data: Any) -> int:
        self.writes.append(len(data))
        return super().write(data)


@pytest.fixture
def fake() -> Iterator[FakeComfyUI]:
    with FakeComfyUI(step_delay=0.02) as server:
        yield server


@pytest.fixture
def comfy(fake: FakeComfyUI) -> Iterator[ComfyUI]:
    driver = ComfyUI(fake.base_url, "agent-7", timeout=5, progress_every=0.05, idle_check=1)
    yield driver
    driver.close()


def media_graph() -> dict[str, Any]:
    """An image, a GIF, an MP4 and a WAV: outputs under `images`, `gifs` and `audio`."""
    frames = {"class_type": "EmptyImage", "inputs": {"width": 32, "height": 24, "batch_size": 2, "color": 0x336699}}

    def video(prefix: str, kind: str) -> dict[str, Any]:
        return {"class_type": "VHS_VideoCombine", "inputs": {
            "images": ["1", 0], "frame_rate": 8, "loop_count": 0, "filename_prefix": prefix, "format": kind,
            "pingpong": False, "save_output": True}}

    return {"1": frames, "2": video("clip", "image/gif"), "3": video("movie", "video/h264-mp4"),
            "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "v1-5-pruned-emaonly.safetensors"}},
            "5": {"class_type": "EmptyLatentAudio", "inputs": {"seconds": 1.0, "batch_size": 1}},
            "6": {"class_type": "VAEDecodeAudio", "inputs": {"samples": ["5", 0], "vae": ["4", 2]}},
            "7": {"class_type": "SaveAudio", "inputs": {"audio": ["6", 0], "filename_prefix": "audio/ComfyUI"}},
            "8": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "still"}}}


def test_run_to_completion_with_progress_rising_to_100(fake: FakeComfyUI, comfy: ComfyUI) -> None:
    events: list[dict[str, Any]] = []
    told: list[Any] = []
    result = comfy.run(txt2img(steps=20), events.append, told.append)
    body = fake.prompts[-1]["json"]
    assert body["client_id"] == "agent-7" and body["prompt_id"] == result.prompt_id
    percents = [e["percent"] for e in events]
    assert percents == sorted(percents) and percents[-1] == 100 and percents.count(100) == 1
    assert any(0 < p < 100 for p in percents)
    assert any(e["node"] == "3" and e["max"] == 20 and 0 < e["value"] <= 20 for e in events)  # sampler steps
    assert len(events) < 20  # coalesced: 20 steps plus every node's messages, far fewer events
    assert {"node", "value", "max", "percent"} <= set(events[0])
    assert [(o.node, o.kind, o.filename) for o in result.outputs] == [("9", "images", "ComfyUI_00001_.png")]
    assert told == result.outputs


def test_cached_rerun_still_lists_its_outputs(comfy: ComfyUI) -> None:
    first = comfy.run(SMOKE, lambda _: None)
    events: list[dict[str, Any]] = []
    again = comfy.run(SMOKE, events.append)
    assert again.prompt_id != first.prompt_id and again.outputs == first.outputs
    assert events[-1]["percent"] == 100


def test_every_output_kind_is_streamed_through_a_sink(fake: FakeComfyUI, comfy: ComfyUI,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(comfyui_driver, "CHUNK_BYTES", 256)
    result = comfy.run(media_graph(), lambda _: None)
    by_kind = {(o.node, o.kind): o for o in result.outputs}
    assert set(by_kind) == {("2", "gifs"), ("3", "gifs"), ("7", "audio"), ("8", "images")}
    assert [o.index for o in result.outputs] == list(range(len(result.outputs)))
    assert by_kind["2", "gifs"].extra is not None and by_kind["2", "gifs"].extra["format"] == "image/gif"
    expected_types = {("2", "gifs"): "image/gif", ("3", "gifs"): "video/mp4", ("7", "audio"): "audio/",
                      ("8", "images"): "image/png"}
    for place, output in by_kind.items():
        sink = Sink()
        fetched = comfy.fetch(output, sink)
        served = httpx.get(fake.base_url + "/view", params=output.view_params).content
        assert sink.getvalue() == served and fetched["bytes"] == len(served)
        assert fetched["content_type"].startswith(expected_types[place])
        assert max(sink.writes) <= 256 and len(sink.writes) >= len(served) // 256  # chunks, not the whole file
    still = comfy.fetch(by_kind["8", "images"], io.BytesIO())
    assert (still["width"], still["height"]) == (32, 24) == png_size(
        httpx.get(fake.base_url + "/view", params=by_kind["8", "images"].view_params).content)
    assert "width" not in comfy.fetch(by_kind["7", "audio"], io.BytesIO())


def test_a_missing_output_file_is_an_error(comfy: ComfyUI) -> None:
    output = comfy.run(SMOKE, lambda _: None).outputs[0]
    gone = comfyui_driver.Output(0, output.node, output.kind, "absent.png")
    with pytest.raises(ProviderError) as caught:
        comfy.fetch(gone, io.BytesIO())
    assert caught.value.status == 404 and caught.value.code == ErrorCode.BAD_REQUEST and not caught.value.retryable


def test_node_errors_name_each_node_input_and_message(fake: FakeComfyUI, comfy: ComfyUI) -> None:
    graph = txt2img(ckpt="x.safetensors")
    graph["3"]["inputs"]["steps"] = 0
    with pytest.raises(ProviderError) as caught:
        comfy.run(graph, lambda _: None)
    err = caught.value
    assert err.code == ErrorCode.BAD_REQUEST and not err.retryable and err.status == 400
    assert "node 4 (CheckpointLoaderSimple) input ckpt_name: Value not in list" in err.message
    assert "node 3 (KSampler) input steps" in err.message and "x.safetensors" in err.message
    assert err.details is not None and "ckpt_name" in err.details["provider_message"]
    assert httpx.get(fake.base_url + "/queue").json()["queue_pending"] == []


def test_prompt_level_refusal_says_why(comfy: ComfyUI) -> None:
    with pytest.raises(ProviderError) as caught:
        comfy.run({"1": {"class_type": "NoSuchNode", "inputs": {}}}, lambda _: None)
    assert caught.value.code == ErrorCode.BAD_REQUEST and "NoSuchNode" in caught.value.message


def test_execution_error_names_node_type_and_exception(fake: FakeComfyUI, comfy: ComfyUI) -> None:
    fake.fail_next(node_id="3", exception="CUDA out of memory", exception_type="torch.OutOfMemoryError")
    with pytest.raises(ProviderError) as caught:
        comfy.run(txt2img(), lambda _: None)
    err = caught.value
    assert err.code == ErrorCode.BAD_REQUEST and not err.retryable
    assert "node 3 (KSampler) raised torch.OutOfMemoryError: CUDA out of memory" in err.message


def test_a_failing_progress_callback_interrupts_the_prompt(fake: FakeComfyUI, comfy: ComfyUI) -> None:
    def cancel_midway(event: dict[str, Any]) -> None:
        if event["node"] == "3" and event["value"] >= 2:
            raise Cancelled

    with pytest.raises(Cancelled):
        comfy.run(txt2img(steps=200), cancel_midway)
    assert fake.calls["interrupt"] == 1
    prompt_id = fake.prompts[-1]["json"]["prompt_id"]
    eventually(lambda: fake.history(prompt_id) is not None)
    assert fake.history(prompt_id)["status"]["status_str"] == "error"  # type: ignore[index]
    assert not [f for f in fake.files if f[0] == "output"]


def test_an_interrupt_from_elsewhere_raises_interrupted(fake: FakeComfyUI, comfy: ComfyUI) -> None:
    def interrupt_once_sampling(event: dict[str, Any]) -> None:
        if event["node"] == "3" and event["value"] >= 1 and not fake.calls.get("interrupt"):
            threading.Thread(target=httpx.post, args=(fake.base_url + "/interrupt",)).start()

    with pytest.raises(Interrupted) as caught:
        comfy.run(txt2img(steps=200), interrupt_once_sampling)
    assert caught.value.node == "3" and caught.value.prompt_id == fake.prompts[-1]["json"]["prompt_id"]


@pytest.mark.parametrize("reconnects", [3, 0])
def test_a_dropped_socket_still_completes(fake: FakeComfyUI, comfy: ComfyUI, reconnects: int,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    # With reconnects the socket is replaced; without, /history is polled until the prompt is there.
    comfy.reconnects = reconnects
    connects: list[int] = []
    connect = comfy._connect
    monkeypatch.setattr(comfy, "_connect", lambda: connects.append(1) or connect())
    fake.drop_websocket_after(8)
    events: list[dict[str, Any]] = []
    result = comfy.run(txt2img(steps=30), events.append)
    assert [o.filename for o in result.outputs] == ["ComfyUI_00001_.png"]
    assert events[-1]["percent"] == 100 and [e["percent"] for e in events] == sorted(e["percent"] for e in events)
    assert len(connects) == (2 if reconnects else 1)


def test_a_failure_recorded_only_in_history_is_raised(fake: FakeComfyUI, comfy: ComfyUI) -> None:
    comfy.reconnects = 0
    fake.drop_websocket_after(3)  # before the sampler fails: the socket never sees execution_error
    fake.fail_next(node_id="3", exception="boom")
    with pytest.raises(ProviderError, match=r"node 3 \(KSampler\) raised RuntimeError: boom"):
        comfy.run(txt2img(steps=10), lambda _: None)


@pytest.mark.parametrize("starting_status", [None, 503])
def test_wait_ready_while_comfyui_starts(starting_status: int | None) -> None:
    with FakeComfyUI(start_delay=0.8, starting_status=starting_status) as fake:
        comfy = ComfyUI(fake.base_url, timeout=2, poll_every=0.1)
        assert comfy.up() is False
        with pytest.raises(ProviderError) as caught:
            comfy.wait_ready(0.1)
        assert caught.value.code == ErrorCode.PROVIDER_UNAVAILABLE and caught.value.retryable
        comfy.wait_ready(10)
        assert comfy.up() is True and comfy.system_stats()["version"] == "0.3.64"


def test_options_and_system_stats(comfy: ComfyUI) -> None:
    options = comfy.options()
    assert options["checkpoints"] == ["v1-5-pruned-emaonly.safetensors", "sd_xl_base_1.0.safetensors"]
    assert options["loras"] == ["add_detail.safetensors"]
    # KSampler lists samplers as [[choices], {}], KSamplerSelect (a V3 node) as ["COMBO", {"options": [...]}].
    assert "euler" in options["samplers"] and len(options["samplers"]) == len(set(options["samplers"]))
    assert "karras" in options["schedulers"]
    stats = comfy.system_stats()
    assert stats["version"] == "0.3.64"
    assert stats["devices"][0]["type"] == "cuda" and stats["devices"][0]["vram_total"] > 0


def test_upload_then_run_the_uploaded_image(fake: FakeComfyUI, comfy: ComfyUI) -> None:
    first = comfy.upload_image("in.png", io.BytesIO(png(40, 30, 0x00FF00)))
    assert first == {"name": "in.png", "subfolder": "", "type": "input"}
    clash = comfy.upload_image("in.png", io.BytesIO(png(8, 8, 0)))
    assert clash["name"] == "in (1).png" and fake.calls["upload"] == 2
    graph = {"1": {"class_type": "LoadImage", "inputs": {"image": clash["name"]}},
             "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "loaded"}}}
    fetched = comfy.fetch(comfy.run(graph, lambda _: None).outputs[0], io.BytesIO())
    assert (fetched["width"], fetched["height"]) == (8, 8)


def test_transport_errors_are_retryable() -> None:
    refused = ComfyUI(f"http://127.0.0.1:{free_port()}", timeout=1)
    assert refused.up() is False
    with pytest.raises(ProviderError) as caught:
        refused.run(SMOKE, lambda _: None)  # the WebSocket is refused first
    assert caught.value.code == ErrorCode.PROVIDER_UNAVAILABLE and caught.value.retryable
    with socket.socket() as silent:  # accepts connections, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        hung = ComfyUI(f"http://127.0.0.1:{silent.getsockname()[1]}", timeout=0.3, probe_timeout=0.3)
        with pytest.raises(ProviderError) as timed_out:
            hung.system_stats()
        assert timed_out.value.code == ErrorCode.TIMEOUT and timed_out.value.retryable
    with FakeComfyUI(start_delay=30, starting_status=503) as starting:
        with pytest.raises(ProviderError) as unavailable:
            ComfyUI(starting.base_url, timeout=2).system_stats()
        assert unavailable.value.code == ErrorCode.PROVIDER_UNAVAILABLE and unavailable.value.status == 503

