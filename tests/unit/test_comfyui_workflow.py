"""ComfyUI workflow parameters: found by class and input, positive/negative by the sampler's links, applied to a
copy with explicit bindings first, seed -1 resolved, and the UI format refused."""

from __future__ import annotations

import copy
import random
from typing import Any

import pytest
from spoonfeeder.comfyui.workflow import SEED_LIMIT, apply_parameters, extract_parameters, resolve_seed


def txt2img() -> dict[str, Any]:
    # The negative encoder has the lower id, so only the sampler's links can tell the two texts apart.
    return {
        "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "v1-5.safetensors"}},
        "10": {"class_type": "LoraLoader", "inputs": {"model": ["4", 0], "clip": ["4", 1],
                                                      "lora_name": "detail.safetensors", "strength_model": 0.8,
                                                      "strength_clip": 0.6}},
        "5": {"class_type": "EmptyLatentImage", "inputs": {"width": 512, "height": 768, "batch_size": 2}},
        "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "blurry", "clip": ["10", 1]}},
        "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "a red fox", "clip": ["10", 1]}},
        "3": {"class_type": "KSampler", "inputs": {
            "seed": 42, "steps": 20, "cfg": 7.5, "sampler_name": "euler", "scheduler": "normal", "denoise": 1.0,
            "model": ["10", 0], "positive": ["7", 0], "negative": ["6", 0], "latent_image": ["5", 0]}},
        "8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}},
        "9": {"class_type": "SaveImage", "inputs": {"images": ["8", 0], "filename_prefix": "ComfyUI"}},
    }


def defaults(workflow: dict[str, Any]) -> dict[str, Any]:
    return {name: p["default"] for name, p in extract_parameters(workflow).items()}


def test_extracts_every_known_parameter_with_its_default_and_place() -> None:
    found = extract_parameters(txt2img())
    assert defaults(txt2img()) == {
        "seed": 42, "steps": 20, "cfg": 7.5, "sampler": "euler", "scheduler": "normal", "denoise": 1.0,
        "width": 512, "height": 768, "batch_size": 2, "checkpoint": "v1-5.safetensors",
        "lora": "detail.safetensors", "lora_strength_model": 0.8, "lora_strength_clip": 0.6,
        "positive": "a red fox", "negative": "blurry"}
    assert found["positive"] == {"node": "7", "input": "text", "default": "a red fox"}
    assert found["negative"]["node"] == "6"
    assert found["sampler"] == {"node": "3", "input": "sampler_name", "default": "euler"}


def test_prompt_texts_are_found_through_conditioning_nodes() -> None:
    graph = txt2img()
    graph["11"] = {"class_type": "ConditioningCombine", "inputs": {"conditioning_1": ["7", 0],
                                                                   "conditioning_2": ["7", 0]}}
    graph["3"]["inputs"]["positive"] = ["11", 0]
    assert defaults(graph)["positive"] == "a red fox"


def test_lowest_node_id_wins_numerically_and_linked_inputs_are_not_parameters() -> None:
    graph = txt2img()
    graph["12"] = copy.deepcopy(graph["3"]) | {"class_type": "KSampler"}
    graph["12"]["inputs"]["steps"] = 99
    graph["3"]["inputs"]["seed"] = ["20", 0]  # a seed from a primitive node: not a literal to set
    found = extract_parameters(graph)
    assert found["steps"]["node"] == "3" and found["steps"]["default"] == 20
    assert found["seed"] == {"node": "12", "input": "seed", "default": 42}


def test_a_workflow_without_known_nodes_has_no_parameters() -> None:
    smoke = {"1": {"class_type": "EmptyImage", "inputs": {"width": 64, "height": 64, "batch_size": 1, "color": 0}},
             "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "smoke"}}}
    assert extract_parameters(smoke) == {}


def test_apply_sets_a_copy_and_leaves_the_input_alone() -> None:
    graph = txt2img()
    before = copy.deepcopy(graph)
    applied = apply_parameters(graph, {"seed": 7, "positive": "a blue whale", "negative": "", "width": 1024,
                                       "checkpoint": "sdxl.safetensors", "lora_strength_model": 1.0})
    assert graph == before
    assert applied["3"]["inputs"]["seed"] == 7 and applied["3"]["inputs"]["positive"] == ["7", 0]
    assert applied["7"]["inputs"]["text"] == "a blue whale" and applied["6"]["inputs"]["text"] == ""
    assert applied["5"]["inputs"]["width"] == 1024 and applied["4"]["inputs"]["ckpt_name"] == "sdxl.safetensors"
    assert applied["10"]["inputs"]["strength_model"] == 1.0
    applied["5"]["inputs"]["height"] = 1
    assert graph["5"]["inputs"]["height"] == 768  # a deep copy: nested inputs are not shared


def test_explicit_bindings_take_precedence() -> None:
    graph = txt2img()
    graph["20"] = {"class_type": "PrimitiveNode", "inputs": {"value": 1}}
    bindings = {"seed": {"node": "20", "input": "value"}, "style": {"node": "9", "input": "filename_prefix"}}
    applied = apply_parameters(graph, {"seed": 5, "style": "noir"}, bindings)
    assert applied["20"]["inputs"]["value"] == 5 and applied["3"]["inputs"]["seed"] == 42
    assert applied["9"]["inputs"]["filename_prefix"] == "noir"


@pytest.mark.parametrize(("params", "bindings", "says"), [
    ({"nonsense": 1}, None, "no parameter 'nonsense'"),
    ({"seed": 1}, {"seed": {"node": "77", "input": "seed"}}, "node '77'"),
    ({"seed": 1}, {"seed": {"node": "3", "input": "model"}}, "which is a link"),
])
def test_apply_refuses_parameters_with_nowhere_to_go(params: dict[str, Any], bindings: Any, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        apply_parameters(txt2img(), params, bindings)


@pytest.mark.parametrize("workflow", [
    {"nodes": [{"id": 3, "type": "KSampler", "widgets_values": [42, "fixed", 20]}], "links": [[1, 4, 0, 3, 0]]},
    {"last_node_id": 9, "links": []},
])
def test_ui_format_is_refused_with_a_clear_message(workflow: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=r"UI-format workflow.*Export \(API\)"):
        extract_parameters(workflow)
    with pytest.raises(ValueError, match="UI-format"):
        apply_parameters(workflow, {})


@pytest.mark.parametrize("workflow", [[], {}, {"1": "KSampler"}, {"1": {"inputs": {}}},
                                      {"1": {"class_type": "X", "inputs": []}}])
def test_malformed_workflows_are_refused(workflow: Any) -> None:
    with pytest.raises(ValueError, match=r"API-format|API format"):
        extract_parameters(workflow)


def test_resolve_seed() -> None:
    params = {"seed": -1, "steps": 4}
    resolved = resolve_seed(params, random.Random(1))
    assert params["seed"] == -1 and resolved["steps"] == 4
    assert 0 <= resolved["seed"] < SEED_LIMIT and resolved == resolve_seed(params, random.Random(1))
    assert resolve_seed(params, random.Random(2))["seed"] != resolved["seed"]
    assert resolve_seed({"seed": 0}) == {"seed": 0} and resolve_seed({}) == {}
    assert 0 <= resolve_seed({"seed": -1})["seed"] < SEED_LIMIT  # no rng given: the system's
