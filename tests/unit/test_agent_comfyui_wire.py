"""The ComfyUI driver's pure parts: progress that only rises and is coalesced, outputs of any kind, refusals and
failures as ProviderErrors, combo choices in both shapes, system stats."""

from __future__ import annotations

from typing import Any

from spoon_agent.comfyui_progress import RunProgress
from spoon_agent.comfyui_wire import (
    MESSAGE_MAX_CHARS,
    combo_choices,
    execution_failed,
    history_outputs,
    input_choices,
    refused,
    stats,
)
from spoonfeeder.providers.base import ErrorCode


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def progress(nodes: int = 4) -> tuple[RunProgress, list[dict[str, Any]], Clock]:
    events: list[dict[str, Any]] = []
    clock = Clock()
    return RunProgress(events.append, nodes=nodes, every=0.25, clock=clock), events, clock


def test_progress_counts_cached_and_running_nodes_and_never_falls() -> None:
    run, events, clock = progress(nodes=4)
    run.add("execution_cached", {"nodes": ["1"]})
    assert events[-1]["percent"] == 25
    clock.now = 1
    run.add("executing", {"node": "2"})
    run.add("progress", {"node": "2", "value": 5, "max": 10})  # coalesced: same instant
    assert len(events) == 2 and events[-1] == {"node": "2", "value": 0, "max": 1, "percent": 25}
    clock.now = 2
    run.add("progress", {"node": "2", "value": 10, "max": 10})
    assert events[-1] == {"node": "2", "value": 10, "max": 10, "percent": 50}
    clock.now = 3
    run.add("executing", {"node": "2"})  # replayed after a reconnect: not a step back
    run.add("progress_state", {"nodes": {"2": {"value": 1, "max": 10, "state": "running"}}})
    assert [e["percent"] for e in events] == [25, 25, 50, 50]
    run.add("status", {"status": {}})  # not progress: ignored
    assert len(events) == 4


def test_progress_stays_below_100_until_finish() -> None:
    run, events, _ = progress(nodes=2)
    run.add("progress_state", {"nodes": {"1": {"value": 1, "max": 1, "state": "finished"},
                                         "2": {"value": 1, "max": 1, "state": "finished"}}})
    assert events[-1]["percent"] == 99
    run.finish()
    assert events[-1]["percent"] == 100 and run.percent == 100


def test_progress_with_more_nodes_reported_than_expected() -> None:
    run, events, clock = progress(nodes=1)
    run.add("executed", {"node": "1"})
    clock.now = 1
    run.add("executing", {"node": "2"})
    assert events[-1]["percent"] == 99  # two of two known: capped until the end, never over 100


def test_history_outputs_under_any_key() -> None:
    entry = {"outputs": {
        "9": {"images": [{"filename": "a.png", "subfolder": "", "type": "output"}], "animated": [True]},
        "12": {"gifs": [{"filename": "c.mp4", "subfolder": "v", "type": "output", "format": "video/h264-mp4"}],
               "text": ["not a file"]},
        "13": {"audio": [{"filename": "s.flac", "subfolder": "audio", "type": "temp"}]}}}
    found = history_outputs(entry)
    assert [(o.index, o.node, o.kind, o.filename, o.subfolder, o.type) for o in found] == [
        (0, "9", "images", "a.png", "", "output"), (1, "12", "gifs", "c.mp4", "v", "output"),
        (2, "13", "audio", "s.flac", "audio", "temp")]
    assert found[1].extra == {"format": "video/h264-mp4"} and found[0].extra is None
    assert found[1].as_dict()["extra"] == {"format": "video/h264-mp4"}
    assert found[2].view_params == {"filename": "s.flac", "subfolder": "audio", "type": "temp"}
    assert history_outputs({}) == [] and history_outputs({"outputs": {"1": None}}) == []


def test_refused_names_every_node_and_input() -> None:
    body = {"error": {"type": "prompt_outputs_failed_validation", "message": "Prompt outputs failed validation"},
            "node_errors": {
                "4": {"class_type": "CheckpointLoaderSimple", "errors": [
                    {"type": "value_not_in_list", "message": "Value not in list",
                     "details": "ckpt_name: 'x' not in []", "extra_info": {"input_name": "ckpt_name"}}]},
                "3": {"class_type": "KSampler", "errors": [
                    {"type": "required_input_missing", "message": "Required input is missing",
                     "extra_info": {"input_name": "steps"}}]}}}
    err = refused(400, body)
    assert err.code == ErrorCode.BAD_REQUEST and not err.retryable and err.status == 400
    assert err.provider_message == ("node 4 (CheckpointLoaderSimple) input ckpt_name: Value not in list "
                                    "(ckpt_name: 'x' not in []); "
                                    "node 3 (KSampler) input steps: Required input is missing")
    prompt_level = refused(400, {"error": {"message": "Cannot execute because node X does not exist.",
                                           "details": "Node ID '#1'"}, "node_errors": {}})
    assert prompt_level.provider_message == "Cannot execute because node X does not exist. (Node ID '#1')"
    assert refused(400, "not json").provider_message == "the prompt was refused"
    many = {"node_errors": {str(i): {"class_type": "K", "errors": [{"message": "x" * 50}]} for i in range(100)}}
    assert len(refused(400, many).provider_message or "") == MESSAGE_MAX_CHARS


def test_execution_failed_names_node_type_and_exception() -> None:
    err = execution_failed({"node_id": "3", "node_type": "KSampler", "exception_type": "RuntimeError",
                            "exception_message": "boom"})
    assert err.provider_message == "node 3 (KSampler) raised RuntimeError: boom" and not err.retryable
    assert err.message.endswith(err.provider_message)


def test_combo_choices_in_both_shapes() -> None:
    assert combo_choices([["euler", "heun"], {"tooltip": "x"}]) == ["euler", "heun"]
    assert combo_choices(["COMBO", {"options": ["karras", "normal"], "tooltip": "x"}]) == ["karras", "normal"]
    assert combo_choices(["INT", {"default": 1}]) == [] and combo_choices(None) == []
    info = {"KSampler": {"input": {"required": {"sampler_name": [["euler"], {}]}}},
            "Lora": {"input": {"optional": {"lora_name": ["COMBO", {"options": ["a.safetensors"]}]}}}}
    assert input_choices(info, "KSampler", "sampler_name") == ["euler"]
    assert input_choices(info, "Lora", "lora_name") == ["a.safetensors"]
    assert input_choices(info, "Absent", "x") == [] and input_choices({}, "KSampler", "seed") == []


def test_stats_keep_the_version_and_device_essentials() -> None:
    answer = {"system": {"comfyui_version": "0.3.64", "argv": ["main.py", "--listen"]},
              "devices": [{"name": "cuda:0", "type": "cuda", "index": 0, "vram_total": 10, "vram_free": 5,
                           "torch_vram_total": 0}]}
    assert stats(answer) == {"version": "0.3.64", "devices": [
        {"name": "cuda:0", "type": "cuda", "index": 0, "vram_total": 10, "vram_free": 5}]}
    assert stats({}) == {"version": None, "devices": []}
