"""ComfyUI's answers read into what the driver returns, with no I/O: outputs of a history entry (every kind),
the errors of a refused or failed prompt as ProviderErrors, combo choices in both `/object_info` shapes, and
the devices of `/system_stats`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from spoonfeeder.providers.base import ErrorCode, ProviderError

#: Longest error text kept: a prompt with many broken nodes must not make an oversized task item.
MESSAGE_MAX_CHARS = 1000
DEVICE_FIELDS = ("name", "type", "index", "vram_total", "vram_free")


@dataclass(frozen=True)
class Output:
    """One file a node reported: `kind` is the key it came under (images, gifs, videos, audio, …), `index` its
    place in the prompt's outputs (node order, then kind, then the node's list), `extra` whatever else the
    node said of it (a video's format and frame rate, …)."""

    index: int
    node: str
    kind: str
    filename: str
    subfolder: str = ""
    type: str = "output"
    extra: Mapping[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self) | {"extra": dict(self.extra or {})}

    @property
    def view_params(self) -> dict[str, str]:
        return {"filename": self.filename, "subfolder": self.subfolder, "type": self.type}


def node_outputs(node: str, ui: Any, start: int = 0) -> list[Output]:
    """The files one node reported (its `executed` output or history entry), numbered from `start`. Entries that
    are not files (SaveAnimatedWEBP's `animated: [true]`, a text node's strings) are left out."""
    found: list[Output] = []
    for kind, entries in (ui.items() if isinstance(ui, Mapping) else ()):
        for entry in entries if isinstance(entries, list) else ():
            if isinstance(entry, Mapping) and isinstance(entry.get("filename"), str):
                extra = {k: v for k, v in entry.items() if k not in ("filename", "subfolder", "type")}
                found.append(Output(start + len(found), str(node), str(kind), entry["filename"],
                                    str(entry.get("subfolder") or ""), str(entry.get("type") or "output"),
                                    extra or None))
    return found


def history_outputs(entry: Mapping[str, Any]) -> list[Output]:
    """Every file a finished prompt's history entry lists, under any key."""
    found: list[Output] = []
    for node, ui in (entry.get("outputs") or {}).items():
        found.extend(node_outputs(node, ui, start=len(found)))
    return found


def _clip(text: str) -> str:
    return text if len(text) <= MESSAGE_MAX_CHARS else text[:MESSAGE_MAX_CHARS - 1] + "…"


def refused(status: int, body: Any) -> ProviderError:
    """A 400 from POST /prompt: the message names each node, input and what is wrong (or the prompt-level
    error when no node is to blame). Sending it again cannot succeed, so it is not retryable."""
    body = body if isinstance(body, Mapping) else {}
    error = body.get("error") if isinstance(body.get("error"), Mapping) else {}
    parts: list[str] = []
    for node_id, node in (body.get("node_errors") or {}).items():
        for problem in (node.get("errors") or []) if isinstance(node, Mapping) else ():
            input_name = (problem.get("extra_info") or {}).get("input_name")
            where = f"node {node_id} ({node.get('class_type', '?')})" + (f" input {input_name}" if input_name else "")
            said = problem.get("message", "invalid")
            parts.append(f"{where}: {said}" + (f" ({problem['details']})" if problem.get("details") else ""))
    if not parts:
        said = str(error.get("message") or "the prompt was refused")
        parts.append(said + (f" ({error['details']})" if error.get("details") else ""))
    text = _clip("; ".join(parts))
    return ProviderError(ErrorCode.BAD_REQUEST, f"ComfyUI refused the workflow: {text}", retryable=False,
                         status=status, provider_message=text)


def execution_failed(data: Mapping[str, Any]) -> ProviderError:
    """An `execution_error`: the node, its class and the exception. Not retried: the same workflow on the same
    machine fails the same way (a new task is the user's choice)."""
    text = _clip(f"node {data.get('node_id')} ({data.get('node_type')}) raised {data.get('exception_type')}: "
                 f"{data.get('exception_message')}")
    return ProviderError(ErrorCode.BAD_REQUEST, f"ComfyUI failed running the workflow: {text}", retryable=False,
                         provider_message=text)


def combo_choices(spec: Any) -> list[str]:
    """The choices of a combo input in either `/object_info` shape: `[[choices…], {opts}]` (core nodes) or
    `["COMBO", {"options": [choices…]}]` (nodes on the V3 schema). Anything else has none."""
    if isinstance(spec, list) and spec:
        if isinstance(spec[0], list):
            return [str(choice) for choice in spec[0]]
        if spec[0] == "COMBO" and len(spec) > 1 and isinstance(spec[1], Mapping):
            return [str(choice) for choice in spec[1].get("options") or []]
    return []


def input_choices(info: Any, node_class: str, input_name: str) -> list[str]:
    """The choices of one input of `node_class` in an `/object_info` answer (required or optional)."""
    inputs = ((info or {}).get(node_class) or {}).get("input") or {}
    for group in ("required", "optional"):
        if input_name in (inputs.get(group) or {}):
            return combo_choices(inputs[group][input_name])
    return []


def stats(answer: Mapping[str, Any]) -> dict[str, Any]:
    """`/system_stats` as the heartbeat reports it: ComfyUI's version and its devices."""
    devices = [{name: device.get(name) for name in DEVICE_FIELDS} for device in answer.get("devices") or []
               if isinstance(device, Mapping)]
    return {"version": (answer.get("system") or {}).get("comfyui_version"), "devices": devices}
