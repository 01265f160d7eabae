"""Parameters of an API-format ComfyUI workflow: found, applied and a random seed resolved, with no I/O.

An API-format workflow maps node ids (strings) to `{"class_type", "inputs", "_meta"?}`; an input is a literal or
a link `[source node id, output index]`. The parameters are found by node class and input name (`KNOWN`), and
the prompt texts by following the KSampler's `positive` and `negative` links back to their CLIPTextEncode. When
a class appears more than once, the node with the lowest id wins (ComfyUI's own default graph numbers the main
sampler first), so the choice is the same on every import. A workflow may store explicit bindings (parameter ->
node id and input) instead, which take precedence over what is found.

The UI format (what ComfyUI's "Save" writes: `nodes` and `links` lists with widget values by position) names no
inputs and cannot be run through the API, so it is refused rather than guessed at.
"""

from __future__ import annotations

import copy
import random
import re
from collections.abc import Mapping
from typing import Any, TypedDict

#: (node class, input) -> parameter name. The names are the API's (the generation filters use them).
KNOWN: dict[tuple[str, str], str] = {
    ("KSampler", "seed"): "seed",
    ("KSampler", "steps"): "steps",
    ("KSampler", "cfg"): "cfg",
    ("KSampler", "sampler_name"): "sampler",
    ("KSampler", "scheduler"): "scheduler",
    ("KSampler", "denoise"): "denoise",
    ("EmptyLatentImage", "width"): "width",
    ("EmptyLatentImage", "height"): "height",
    ("EmptyLatentImage", "batch_size"): "batch_size",
    ("CheckpointLoaderSimple", "ckpt_name"): "checkpoint",
    ("LoraLoader", "lora_name"): "lora",
    ("LoraLoader", "strength_model"): "lora_strength_model",
    ("LoraLoader", "strength_clip"): "lora_strength_clip",
}
#: The prompt texts: KSampler input -> parameter name, found on the CLIPTextEncode it links to.
PROMPTS = {"positive": "positive", "negative": "negative"}
SAMPLER, TEXT_ENCODER, TEXT = "KSampler", "CLIPTextEncode", "text"
#: Seed -1 asks for a random one; ComfyUI takes 0..2**64-1, we draw below 2**63 so it fits a signed 64-bit field.
RANDOM_SEED = -1
SEED_LIMIT = 2**63
_NUMBER = re.compile(r"\d+")


class Binding(TypedDict):
    node: str
    input: str


class Parameter(Binding):
    default: Any


def check(workflow: Any) -> dict[str, dict[str, Any]]:
    """`workflow` if it is an API-format workflow; a ValueError saying what is wrong otherwise."""
    if isinstance(workflow, Mapping) and (isinstance(workflow.get("nodes"), list)
                                          or isinstance(workflow.get("links"), list)):
        raise ValueError("this is a UI-format workflow (it has 'nodes' and 'links' lists): export it from ComfyUI "
                         "with 'Export (API)' and import that file")
    if not isinstance(workflow, Mapping) or not workflow:
        raise ValueError("a workflow must be a non-empty JSON object of node id -> node (API format)")
    for node_id, node in workflow.items():
        if not isinstance(node, Mapping) or not isinstance(node.get("class_type"), str) \
                or not isinstance(node.get("inputs", {}), Mapping):
            raise ValueError(f"node {node_id!r} is not an API-format node ({{'class_type': str, 'inputs': {{...}}}})")
    return dict(workflow)


def is_link(value: Any) -> bool:
    return isinstance(value, list) and len(value) == 2 and isinstance(value[0], str | int) \
        and isinstance(value[1], int) and not isinstance(value[1], bool)


def _order(node_id: str) -> tuple[int, str]:
    """Numeric ids in numeric order ("9" before "10"), then the others."""
    return (int(node_id), "") if _NUMBER.fullmatch(node_id) else (2**62, node_id)


def _nodes(workflow: Mapping[str, Any], class_type: str) -> list[str]:
    return sorted((str(i) for i, n in workflow.items() if n["class_type"] == class_type), key=_order)


def _text_encoder(workflow: Mapping[str, Any], start: Any) -> str | None:
    """The CLIPTextEncode with a literal text upstream of a link (through conditioning nodes such as
    ConditioningCombine or ControlNetApply), nearest first; None if there is none."""
    queue, seen = [start], set()
    while queue:
        link = queue.pop(0)
        if not is_link(link) or str(link[0]) in seen or str(link[0]) not in workflow:
            continue
        node_id = str(link[0])
        seen.add(node_id)
        node = workflow[node_id]
        inputs = node.get("inputs", {})
        if node["class_type"] == TEXT_ENCODER and isinstance(inputs.get(TEXT), str):
            return node_id
        queue.extend(value for value in inputs.values() if is_link(value))
    return None


def find_bindings(workflow: Any) -> dict[str, Binding]:
    """Where each known parameter lives in `workflow` (only literal inputs: a linked input is not a setting)."""
    graph = check(workflow)
    found: dict[str, Binding] = {}
    for (class_type, input_name), param in KNOWN.items():
        for node_id in _nodes(graph, class_type):
            if input_name in graph[node_id].get("inputs", {}) and not is_link(graph[node_id]["inputs"][input_name]):
                found[param] = {"node": node_id, "input": input_name}
                break
    for sampler in _nodes(graph, SAMPLER)[:1]:
        for input_name, param in PROMPTS.items():
            encoder = _text_encoder(graph, graph[sampler].get("inputs", {}).get(input_name))
            if encoder is not None:
                found[param] = {"node": encoder, "input": TEXT}
    return found


def extract_parameters(workflow: Any) -> dict[str, Parameter]:
    """Each parameter `workflow` has, with where it lives and its value there (the default)."""
    graph = check(workflow)
    return {param: {**where, "default": graph[where["node"]]["inputs"][where["input"]]}  # type: ignore[typeddict-item]
            for param, where in find_bindings(graph).items()}


def apply_parameters(workflow: Any, params: Mapping[str, Any],
                     bindings: Mapping[str, Mapping[str, str]] | None = None) -> dict[str, Any]:
    """A copy of `workflow` with `params` set (`workflow` itself is left unchanged). Explicit `bindings` take
    precedence over the parameters found by class. A parameter with nowhere to go, or a binding to a node or
    input that is absent or a link, is a ValueError."""
    graph = copy.deepcopy(check(workflow))
    where: dict[str, Mapping[str, str]] = {**find_bindings(graph), **(bindings or {})}
    for param, value in params.items():
        target = where.get(param)
        if target is None:
            raise ValueError(f"the workflow has no parameter {param!r}")
        node_id, input_name = str(target.get("node")), str(target.get("input"))
        node = graph.get(node_id)
        if node is None:
            raise ValueError(f"parameter {param!r} is bound to node {node_id!r}, which the workflow lacks")
        inputs = node.setdefault("inputs", {})
        if is_link(inputs.get(input_name)):
            raise ValueError(f"parameter {param!r} is bound to input {input_name!r} of node {node_id!r}, "
                             "which is a link")
        inputs[input_name] = value
    return graph


def resolve_seed(params: Mapping[str, Any], rng: random.Random | None = None) -> dict[str, Any]:
    """A copy of `params` whose seed -1 is replaced by a random seed in 0..2**63-1 (to be stored, so the exact
    run can be repeated)."""
    resolved = dict(params)
    if resolved.get("seed") == RANDOM_SEED:
        resolved["seed"] = (rng or random.SystemRandom()).randrange(SEED_LIMIT)
    return resolved
