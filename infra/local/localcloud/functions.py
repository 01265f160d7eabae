"""The Lambda runtime stand-in: each function runs in a pool of local worker processes.

A worker is created on demand (a cold start: fresh interpreter, the function's environment, its code
and layers on ``sys.path``, the handler module imported) and then reused for later invocations (warm).
An invocation that outlives the function's timeout kills its worker, as Lambda does. Given a source of
credentials (the function's role, see stack.RoleCredentials), each new worker starts with fresh ones in
its environment, as Lambda gives each execution environment its role's keys.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import multiprocessing
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import TYPE_CHECKING, Any

from . import _worker

if TYPE_CHECKING:  # spawned workers re-import the parent's main module: keep this module light
    from .stack import FunctionSpec

__all__ = ["FunctionError", "FunctionHost", "FunctionRegistry", "InvokeResult"]

log = logging.getLogger(__name__)
INIT_TIMEOUT = 10.0  # Lambda's init phase limit
_CONTEXT = multiprocessing.get_context("spawn")


@dataclass(frozen=True)
class InvokeResult:
    ok: bool
    payload: Any  # the handler's return value, or Lambda's error body when not ok
    duration_ms: float = 0.0
    cold_start: bool = False


class FunctionError(Exception):
    """The function failed (raised, timed out, crashed): ``payload`` is Lambda's error body."""

    def __init__(self, payload: Any) -> None:
        message = payload.get("errorMessage") if isinstance(payload, dict) else payload
        super().__init__(str(message))
        self.payload = payload


@dataclass(eq=False)
class _Worker:
    process: BaseProcess
    conn: Connection

    def kill(self) -> None:
        if self.process.is_alive():
            self.process.kill()
            self.process.join(1.0)
        self.conn.close()


def _error(error_type: str, message: str) -> dict[str, Any]:
    return {"errorType": error_type, "errorMessage": message, "stackTrace": []}


class FunctionHost:
    """Runs one function: up to ``max_concurrency`` invocations at once, one worker process each."""

    def __init__(self, spec: FunctionSpec, env_overlay: Mapping[str, str] | None = None,
                 max_concurrency: int = 4, credentials: Callable[[], Mapping[str, str]] | None = None) -> None:
        self.spec = spec
        self.max_concurrency = max_concurrency
        self._credentials = credentials
        env = {**spec.env, **(env_overlay or {})}
        arn_parts = spec.arn.split(":")
        region = env.get("AWS_REGION") or (arn_parts[3] if len(arn_parts) > 3 else "") or "us-east-1"
        self._config = _worker.WorkerConfig(
            function_name=spec.name, handler=spec.handler, code_dir=str(spec.code_dir),
            layer_dirs=[str(d) for d in spec.layer_dirs], env=env, memory=spec.memory, region=region,
            arn=spec.arn or f"arn:aws:lambda:{region}:123456789012:function:{spec.name}")
        self._idle: list[_Worker] = []
        self._busy: set[_Worker] = set()
        self._lock = threading.Lock()
        self._closed = False
        # Its own threads: waiting on workers must never starve the event loop's default executor.
        self._executor = ThreadPoolExecutor(max_concurrency, thread_name_prefix=f"fn-{spec.name[:20]}")

    @property
    def workers(self) -> int:
        with self._lock:
            return len(self._idle) + len(self._busy)

    async def invoke(self, event: Any) -> InvokeResult:
        if self._closed:
            return InvokeResult(False, _error("Runtime.Closed", f"function {self.spec.name} is shut down"))
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._invoke_blocking, event)

    def _spawn(self) -> _Worker | dict[str, Any]:
        config = self._config
        if self._credentials is not None:
            try:
                config = dataclasses.replace(config, env={**config.env, **self._credentials()})
            except Exception as exc:  # e.g. AssumeRole refused: the function cannot start, as on Lambda
                log.error("%s: no credentials for its role: %s", self.spec.name, exc)
                return _error("Runtime.InitError", f"no credentials for the role of {self.spec.name}: {exc}")
        parent, child = _CONTEXT.Pipe()
        process = _CONTEXT.Process(target=_worker.main, args=(child, config), daemon=True,
                                   name=f"lambda:{self.spec.name}")
        process.start()
        child.close()
        worker = _Worker(process, parent)
        error: dict[str, Any] | None = None
        try:
            if not parent.poll(INIT_TIMEOUT):
                error = _error("Runtime.InitError", f"init of {self.spec.name} exceeded {INIT_TIMEOUT:.0f} s")
            else:
                kind, body = parent.recv()
                error = body if kind == "init_error" else None
        except (EOFError, OSError):
            error = _error("Runtime.ExitError", "Runtime exited during init")
        if error is not None:
            worker.kill()
            log.error("%s: init failed: %s: %s", self.spec.name, error.get("errorType"),
                      error.get("errorMessage"))
            return error
        log.debug("%s: cold start", self.spec.name)
        return worker

    def _take_idle(self) -> _Worker | None:
        while True:
            with self._lock:
                worker = self._idle.pop() if self._idle else None
            if worker is None or worker.process.is_alive():
                return worker
            worker.kill()  # died while idle (killed from outside): a fresh one replaces it

    def _invoke_blocking(self, event: Any) -> InvokeResult:
        started = time.monotonic()
        worker = self._take_idle()
        cold = worker is None
        if worker is None:
            spawned = self._spawn()
            if isinstance(spawned, dict):
                return InvokeResult(False, spawned, (time.monotonic() - started) * 1000, True)
            worker = spawned
        with self._lock:
            if self._closed:
                worker.kill()
                return InvokeResult(False, _error("Runtime.Closed", "function is shut down"))
            self._busy.add(worker)
        request_id = str(uuid.uuid4())
        timeout = float(self.spec.timeout)
        keep = False
        try:
            worker.conn.send((json.dumps(event), request_id, time.time() + timeout))
            if not worker.conn.poll(timeout):
                log.warning("%s: request %s timed out after %.0f s; worker killed",
                            self.spec.name, request_id, timeout)
                message = f"RequestId: {request_id} Error: Task timed out after {timeout:.2f} seconds"
                return self._result(False, _error("Sandbox.Timedout", message), started, cold)
            kind, body = worker.conn.recv()
            keep = True
            if kind == "ok":
                return self._result(True, json.loads(body), started, cold)
            return self._result(False, {**body, "requestId": request_id}, started, cold)
        except (EOFError, OSError):
            worker.process.join(0.5)
            code = worker.process.exitcode
            log.warning("%s: worker died during request %s", self.spec.name, request_id)
            message = f"RequestId: {request_id} Error: Runtime exited with error: exit status {code}"
            return self._result(False, _error("Runtime.ExitError", message), started, cold)
        finally:
            with self._lock:
                self._busy.discard(worker)
                keep = keep and not self._closed and worker.process.is_alive()
                if keep:
                    self._idle.append(worker)
            if not keep:
                worker.kill()

    @staticmethod
    def _result(ok: bool, payload: Any, started: float, cold: bool) -> InvokeResult:
        return InvokeResult(ok, payload, (time.monotonic() - started) * 1000, cold)

    def close(self) -> None:
        """Stop every worker now; invocations in flight end with an error."""
        with self._lock:
            self._closed = True
            idle, busy = list(self._idle), list(self._busy)
            self._idle.clear()
        for worker in (*idle, *busy):
            if worker.process.is_alive():
                worker.process.terminate()
        deadline = time.monotonic() + 0.5
        for worker in (*idle, *busy):
            worker.process.join(max(0.0, deadline - time.monotonic()))
            if worker.process.is_alive():
                worker.process.kill()
        for worker in idle:  # a busy worker's pipe is closed by the thread waiting on it
            worker.kill()
        self._executor.shutdown(wait=False, cancel_futures=True)


class FunctionRegistry:
    """Every function of the stack by logical id."""

    def __init__(self, functions: Mapping[str, FunctionSpec], env_overlay: Mapping[str, str] | None = None,
                 max_concurrency: int = 4,
                 credentials: Mapping[str, Callable[[], Mapping[str, str]]] | None = None) -> None:
        """``credentials``: by logical id, where each function's workers get their AWS keys."""
        self.hosts = {logical_id: FunctionHost(spec, env_overlay, max_concurrency,
                                               (credentials or {}).get(logical_id))
                      for logical_id, spec in functions.items()}

    def __getitem__(self, logical_id: str) -> FunctionHost:
        return self.hosts[logical_id]

    async def invoke_result(self, logical_id: str, event: Any) -> InvokeResult:
        return await self.hosts[logical_id].invoke(event)

    async def invoke(self, logical_id: str, event: Any) -> Any:
        """The handler's return value; raises ``FunctionError`` when the function failed."""
        result = await self.invoke_result(logical_id, event)
        if not result.ok:
            raise FunctionError(result.payload)
        return result.payload

    def close(self) -> None:
        for host in self.hosts.values():
            host.close()
