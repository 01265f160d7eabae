"""One queued prompt of the fake ComfyUI, run as ComfyUI's executor runs it: nodes served from cache first (a node is
cached when its class, literal inputs and upstream nodes equal those of the previous prompt; an identical rerun
writes no file), then the others in dependency order with `executing`, `progress` (sampler steps only) and
`progress_state`, `executed` for output nodes; the end is exactly one of `execution_success`, `execution_error` or
`execution_interrupted` (an interrupt lands between nodes or between sampler steps). The history entry it leaves
has ComfyUI's shape."""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from .comfyui_nodes import NODES, Result, Saver
from .comfyui_validate import convert, is_link


@dataclass
class Job:
    number: float
    prompt_id: str
    graph: dict[str, Any]
    extra_data: dict[str, Any]
    outputs: list[str]
    client_id: str | None

    def queue_item(self) -> list[Any]:
        return [self.number, self.prompt_id, self.graph, self.extra_data, self.outputs]


@dataclass(frozen=True)
class Failure:
    """A scripted `execution_error`: at `node_id` (or the first node that runs, when None)."""

    node_id: str | None
    exception_message: str
    exception_type: str


#: Sends one message of the job to its client: (type, data, broadcast) -> awaitable.
Send = Callable[[str, dict[str, Any], bool], Awaitable[None]]


def _ms() -> int:
    return int(time.time() * 1000)


@dataclass
class Run:
    job: Job
    saver: Saver
    send: Send
    cache: dict[str, Result]
    step_delay: float
    interrupted: Callable[[], bool]
    take_failure: Callable[[str], Failure | None]
    #: The node being executed, for a client that reconnects mid-run.
    current: str | None = None
    messages: list[list[Any]] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)
    executed: list[str] = field(default_factory=list)
    states: dict[str, dict[str, Any]] = field(default_factory=dict)
    status_str: str = "success"

    async def execute(self) -> dict[str, Any]:
        """Run the job and return its history entry."""
        pid = self.job.prompt_id
        await self._log("execution_start", {"prompt_id": pid, "timestamp": _ms()})
        order = self._order()
        keys = self._cache_keys(order)
        for stale in set(self.cache) - set(keys.values()):  # ComfyUI keeps only what the new prompt can reuse
            del self.cache[stale]
        cached = [node for node in order if keys[node] in self.cache]
        await self._log("execution_cached", {"nodes": cached, "prompt_id": pid, "timestamp": _ms()})
        results = {node: self.cache[keys[node]] for node in cached}
        for node in cached:
            self.executed.append(node)
            await self._executed(node, results[node])
        for node in order:
            if node not in results and not await self._run_node(node, results, keys[node]):
                break
        else:
            await self._log("execution_success", {"prompt_id": pid, "timestamp": _ms()})
        self.current = None
        return {"prompt": self.job.queue_item(), "outputs": self.outputs,
                "status": {"status_str": self.status_str, "completed": self.status_str == "success",
                           "messages": self.messages},
                "meta": {node: {"node_id": node, "display_node": node, "parent_node": None, "real_node_id": node}
                         for node in self.outputs}}

    async def _run_node(self, node: str, results: dict[str, Result], key: str) -> bool:
        pid, class_type = self.job.prompt_id, self.job.graph[node]["class_type"]
        spec = NODES[class_type]
        self.current = node
        await self.send("executing", {"node": node, "display_node": node, "prompt_id": pid}, False)
        await self._state(node, 0, 1, "running")
        inputs = self._inputs(node, results)
        steps = spec.steps(inputs)
        for step in range(steps + 1):
            if self.step_delay:
                await asyncio.sleep(self.step_delay)
            if self.interrupted():
                await self._stop(node, "execution_interrupted", {})
                return False
            if step:
                await self.send("progress", {"value": step, "max": steps, "prompt_id": pid, "node": node}, False)
                await self._state(node, step, steps, "running")
        failure = self.take_failure(node)
        if failure is not None:
            formatted = {name: [repr(value)] for name, value in inputs.items()}
            await self._stop(node, "execution_error", {
                "exception_message": failure.exception_message, "exception_type": failure.exception_type,
                "traceback": ["Traceback (most recent call last):\n", f"  node {node} ({class_type})\n",
                              f"{failure.exception_type}: {failure.exception_message}\n"],
                "current_inputs": formatted, "current_outputs": list(results)})
            return False
        result = spec.run(self.saver, inputs)
        self.cache[key] = results[node] = result
        self.executed.append(node)
        await self._state(node, max(steps, 1), max(steps, 1), "finished")
        await self._executed(node, result)
        return True

    async def _stop(self, node: str, kind: str, details: dict[str, Any]) -> None:
        self.status_str = "error"
        await self._state(node, 0, 1, "error")
        await self._log(kind, {"prompt_id": self.job.prompt_id, "node_id": node,
                               "node_type": self.job.graph[node]["class_type"], "executed": list(self.executed),
                               **details, "timestamp": _ms()}, broadcast=True)

    async def _executed(self, node: str, result: Result) -> None:
        if result.ui is None:
            return
        self.outputs[node] = result.ui
        await self.send("executed", {"node": node, "display_node": node, "output": result.ui,
                                     "prompt_id": self.job.prompt_id}, False)

    async def _log(self, kind: str, data: dict[str, Any], broadcast: bool = False) -> None:
        """A message that also goes into the history entry's `status.messages`."""
        self.messages.append([kind, data])
        await self.send(kind, data, broadcast)

    async def _state(self, node: str, value: float, maximum: float, state: str) -> None:
        pid = self.job.prompt_id
        self.states[node] = {"value": value, "max": maximum, "state": state, "node_id": node, "prompt_id": pid,
                             "display_node_id": node, "parent_node_id": None, "real_node_id": node}
        await self.send("progress_state", {"prompt_id": pid, "nodes": dict(self.states)}, False)

    def _order(self) -> list[str]:
        """The nodes the job's outputs need, each after the nodes it links to."""
        order: list[str] = []

        def visit(node: str) -> None:
            if node in order:
                return
            for value in self.job.graph[node].get("inputs", {}).values():
                if is_link(value):
                    visit(str(value[0]))
            order.append(node)

        for output in self.job.outputs:
            visit(output)
        return order

    def _cache_keys(self, order: list[str]) -> dict[str, str]:
        keys: dict[str, str] = {}
        for node in order:  # upstream first, so every link's key is known
            spec = self.job.graph[node]
            inputs = {name: ["link", keys[str(v[0])], v[1]] if is_link(v) else v
                      for name, v in sorted(spec.get("inputs", {}).items())}
            if spec["class_type"] == "LoadImage":  # ComfyUI reloads an input file whose content changed
                inputs["_file"] = self.saver.input_digest(str(inputs.get("image")))
            raw = json.dumps([spec["class_type"], inputs], sort_keys=True, default=str)
            keys[node] = hashlib.sha256(raw.encode()).hexdigest()
        return keys

    def _inputs(self, node: str, results: dict[str, Result]) -> dict[str, Any]:
        spec = NODES[self.job.graph[node]["class_type"]]
        given = self.job.graph[node].get("inputs", {})
        return {name: results[str(given[name][0])].outputs[given[name][1]] if is_link(given[name])
                else convert(want, given[name]) for name, want in spec.inputs.items()}
