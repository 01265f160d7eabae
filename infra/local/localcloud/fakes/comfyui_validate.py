"""How the fake ComfyUI validates an API-format graph before queueing it, with ComfyUI's own error shapes
(`execution.validate_prompt`): a prompt-level error (`missing_node_type`, `prompt_no_outputs`,
`prompt_outputs_failed_validation`) and, per failing node, `{class_type, dependent_outputs, errors}`. An output
whose inputs are valid still runs when another output fails (then `/prompt` answers 200 with `node_errors`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .comfyui_nodes import NODES, Input

Inventory = Callable[[str], Sequence[str]]


@dataclass
class Verdict:
    error: dict[str, Any] | None = None
    outputs: list[str] = field(default_factory=list)
    node_errors: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Checks:
    errors: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # each node's own errors
    ok: dict[str, bool] = field(default_factory=dict)  # the node and everything it links to are valid


def _prompt_error(kind: str, message: str, details: str = "", extra: dict[str, Any] | None = None) -> Verdict:
    return Verdict({"type": kind, "message": message, "details": details, "extra_info": extra or {}})


def is_link(value: Any) -> bool:
    return isinstance(value, list)


def convert(spec: Input, value: Any) -> Any:
    """A literal as the node receives it (ComfyUI casts INT, FLOAT, STRING and BOOLEAN); raises ValueError."""
    if spec.type == "INT":
        if isinstance(value, bool):
            raise ValueError(f"invalid literal for int(): {value!r}")
        return int(value)
    if spec.type == "FLOAT":
        return float(value)
    if spec.type == "STRING":
        return str(value)
    if spec.type == "BOOLEAN":
        return bool(value)
    return value


def validate(graph: Any, inventory: Inventory, targets: Sequence[str] | None = None) -> Verdict:
    if not isinstance(graph, dict):
        return _prompt_error("invalid_prompt", "Invalid prompt", "the prompt must be an object of nodes")
    outputs: list[str] = []
    for node_id, node in graph.items():
        class_type = node.get("class_type") if isinstance(node, dict) else None
        title = ((node.get("_meta") or {}).get("title") if isinstance(node, dict) else None) or class_type
        if class_type not in NODES:
            message = (f"Node '{title}' not found. The custom node may not be installed." if class_type
                       else f"Node '{node_id}' has no class_type. The workflow may be corrupted.")
            return _prompt_error("missing_node_type", message, f"Node ID '#{node_id}'",
                                 {"node_id": node_id, "class_type": class_type, "node_title": title})
        if NODES[class_type].output_node and (targets is None or node_id in targets):
            outputs.append(node_id)
    if not outputs:
        return _prompt_error("prompt_no_outputs", "Prompt has no outputs")
    checked = _Checks()
    verdict = Verdict()
    for output in sorted(outputs, key=_id_order):
        if _valid(graph, output, inventory, checked, []):
            verdict.outputs.append(output)
            continue
        for node_id, errors in checked.errors.items():
            if errors:
                entry = verdict.node_errors.setdefault(
                    node_id, {"errors": errors, "dependent_outputs": [], "class_type": graph[node_id]["class_type"]})
                if output not in entry["dependent_outputs"] and _depends(graph, output, node_id):
                    entry["dependent_outputs"].append(output)
    if not verdict.outputs:
        details = "\n".join(f"{e['message']}: {e['details']}" for entry in verdict.node_errors.values()
                            for e in entry["errors"])
        verdict.error = {"type": "prompt_outputs_failed_validation", "message": "Prompt outputs failed validation",
                         "details": details, "extra_info": {}}
    return verdict


def _id_order(node_id: str) -> tuple[int, str]:
    return (int(node_id), "") if node_id.isdigit() else (1 << 62, node_id)


def _depends(graph: dict[str, Any], node_id: str, on: str, seen: set[str] | None = None) -> bool:
    if node_id == on:
        return True
    seen = seen if seen is not None else set()
    seen.add(node_id)
    links = [v for v in (graph.get(node_id) or {}).get("inputs", {}).values() if is_link(v) and v]
    return any(str(v[0]) not in seen and _depends(graph, str(v[0]), on, seen) for v in links)


def _valid(graph: dict[str, Any], node_id: str, inventory: Inventory, checked: _Checks,
           stack: list[str]) -> bool:
    """Validate `node_id` and everything it links to, recording each node's own errors in `checked`."""
    if node_id in checked.ok:
        return checked.ok[node_id]
    node = graph[node_id]
    spec = NODES[node["class_type"]]
    inputs = node.get("inputs") if isinstance(node.get("inputs"), dict) else {}
    errors: list[dict[str, Any]] = []
    checked.errors[node_id] = errors
    upstream_ok = True
    for name, want in spec.inputs.items():
        if name not in inputs:
            errors.append({"type": "required_input_missing", "message": "Required input is missing",
                           "details": name, "extra_info": {"input_name": name}})
            continue
        value = inputs[name]
        config = [want.type, dict(want.opts)]
        if is_link(value):
            upstream_ok &= _valid_link(graph, node_id, name, value, want, config, inventory, checked,
                                       [*stack, node_id], errors)
        else:
            errors.extend(_literal_errors(name, value, want, config, inventory))
    checked.ok[node_id] = not errors and upstream_ok
    return checked.ok[node_id]


def _valid_link(graph: dict[str, Any], node_id: str, name: str, value: list[Any], want: Input,
                config: list[Any], inventory: Inventory, checked: _Checks,
                stack: list[str], errors: list[dict[str, Any]]) -> bool:
    if len(value) != 2:
        errors.append({"type": "bad_linked_input",
                       "message": "Bad linked input, must be a length-2 list of [node_id, slot_index]",
                       "details": name, "extra_info": {"input_name": name, "input_config": config,
                                                       "received_value": value}})
        return True
    source, slot = str(value[0]), value[1]
    if source in stack:
        errors.append({"type": "dependency_cycle", "message": "Dependency cycle detected", "details": node_id,
                       "extra_info": {"node_id": node_id}})
        return True
    source_type = NODES[graph[source]["class_type"]] if source in graph else None
    if source_type is None or not isinstance(slot, int) or not 0 <= slot < len(source_type.outputs):
        problem = f"node {source} does not exist" if source_type is None else f"output {slot} does not exist"
        errors.append({"type": "exception_during_inner_validation", "message": "Exception when validating inner node",
                       "details": problem, "extra_info": {"input_name": name, "input_config": config,
                                                          "exception_message": problem, "exception_type": "KeyError",
                                                          "linked_node": value}})
        return True
    received = source_type.outputs[slot]
    if received != want.type:
        errors.append({"type": "return_type_mismatch", "message": "Return type mismatch between linked nodes",
                       "details": f"{name}, received_type({received}) mismatch input_type({want.type})",
                       "extra_info": {"input_name": name, "input_config": config, "received_type": received,
                                      "linked_node": value}})
    return _valid(graph, source, inventory, checked, stack)


def _literal_errors(name: str, value: Any, want: Input, config: list[Any],
                    inventory: Inventory) -> list[dict[str, Any]]:
    if want.type == "COMBO":
        choices = list(inventory(want.choices) if isinstance(want.choices, str) else want.choices)
        if value not in choices:
            return [{"type": "value_not_in_list", "message": "Value not in list",
                     "details": f"{name}: '{value}' not in {choices}",
                     "extra_info": {"input_name": name, "input_config": [choices, dict(want.opts)],
                                    "received_value": value}}]
        return []
    if want.type not in ("INT", "FLOAT", "STRING", "BOOLEAN"):  # a link type given a literal
        return [{"type": "bad_linked_input", "message": "Bad linked input, must be a length-2 list of [node_id, "
                 "slot_index]", "details": name, "extra_info": {"input_name": name, "input_config": config,
                                                                "received_value": value}}]
    try:
        number = convert(want, value)
    except (TypeError, ValueError) as exc:
        return [{"type": "invalid_input_type", "message": f"Failed to convert an input value to a {want.type} value",
                 "details": f"{name}, {value}, {exc}",
                 "extra_info": {"input_name": name, "input_config": config, "received_value": value,
                                "exception_message": str(exc)}}]
    extra = {"input_name": name, "input_config": config, "received_value": value}
    if "min" in want.opts and number < want.opts["min"]:
        return [{"type": "value_smaller_than_min", "message": f"Value {number} smaller than min of {want.opts['min']}",
                 "details": name, "extra_info": extra}]
    if "max" in want.opts and number > want.opts["max"]:
        return [{"type": "value_bigger_than_max", "message": f"Value {number} bigger than max of {want.opts['max']}",
                 "details": name, "extra_info": extra}]
    return []
