"""The body of one Lambda worker process (started by ``functions.FunctionHost`` with ``spawn``).

Standard library only, so a cold start costs what the handler's own imports cost, as on Lambda.
Protocol over the pipe: the worker first sends ``("ready", None)`` or ``("init_error", error)``; then
for each ``(event_json, request_id, deadline_epoch)`` it receives it answers ``("ok", result_json)`` or
``("error", error)``, where ``error`` is Lambda's ``{"errorType", "errorMessage", "stackTrace"}``.
"""

from __future__ import annotations

import importlib
import json
import os
import signal
import sys
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

KEPT_PARENT_ENV = ("PATH", "HOME", "LANG", "PYTHONPATH", "VIRTUAL_ENV")


@dataclass
class WorkerConfig:
    function_name: str
    handler: str
    code_dir: str
    layer_dirs: list[str]
    env: dict[str, str]
    memory: int
    region: str
    arn: str


class LambdaContext:
    """The attributes and method of the context object the Python Lambda runtime passes to handlers."""

    function_version = "$LATEST"
    identity = None
    client_context = None

    def __init__(self, config: WorkerConfig, request_id: str, deadline: float) -> None:
        self.aws_request_id = request_id
        self.function_name = config.function_name
        self.invoked_function_arn = config.arn
        self.memory_limit_in_mb = str(config.memory)
        self.log_group_name = f"/aws/lambda/{config.function_name}"
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME", "")
        self._deadline = deadline

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.time()) * 1000))


def error_body(exc: BaseException, error_type: str | None = None, *, skip: int = 0) -> dict[str, Any]:
    """Lambda's error shape; ``skip`` leaves out our own frames at the top of the traceback."""
    tb = exc.__traceback__
    for _ in range(skip):
        tb = tb.tb_next if tb is not None else None
    return {"errorMessage": str(exc), "errorType": error_type or type(exc).__name__,
            "stackTrace": traceback.format_list(traceback.extract_tb(tb))}


def _environment(config: WorkerConfig, parent: Mapping[str, str]) -> dict[str, str]:
    env = {key: parent[key] for key in KEPT_PARENT_ENV if key in parent}
    env.update(config.env)
    stream = f"{time.strftime('%Y/%m/%d')}/[$LATEST]{os.urandom(16).hex()}"
    env.update({
        "AWS_LAMBDA_FUNCTION_NAME": config.function_name,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(config.memory),
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{config.function_name}",
        "AWS_LAMBDA_LOG_STREAM_NAME": stream,
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
        "LAMBDA_TASK_ROOT": config.code_dir,
    })
    env.setdefault("AWS_REGION", config.region)
    env.setdefault("AWS_DEFAULT_REGION", env["AWS_REGION"])
    if "AWS_ACCESS_KEY_ID" not in env:
        env.update({"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"})
    return env


def _load_handler(config: WorkerConfig) -> Callable[[Any, LambdaContext], Any]:
    module_name, _, function_name = config.handler.rpartition(".")
    module = importlib.import_module(module_name.replace("/", "."))
    handler = getattr(module, function_name, None)
    if not callable(handler):
        raise AttributeError(f"Handler '{function_name}' missing on module '{module_name}'")
    return handler  # type: ignore[no-any-return]


def _init(config: WorkerConfig) -> Callable[[Any, LambdaContext], Any]:
    env = _environment(config, os.environ)
    os.environ.clear()
    os.environ.update(env)
    paths = [config.code_dir]
    for layer in config.layer_dirs:
        # A built layer keeps its packages under python/; an unbuilt source layer is the package root.
        python_dir = Path(layer, "python")
        paths.append(str(python_dir) if python_dir.is_dir() else layer)
    sys.path[:0] = [p for p in paths if p not in sys.path]
    os.chdir(config.code_dir)
    return _load_handler(config)


def _pid_file(config: WorkerConfig) -> Path | None:
    """``<SPOON_STATE_DIR>/pids/<FunctionName>.<pid>`` while this worker lives, so a test (or a developer)
    can find a function's worker processes, e.g. to kill one mid-run; removed when the worker ends."""
    state = os.environ.get("SPOON_STATE_DIR")  # the parent's environment, read before _init replaces it
    if not state:
        return None
    path = Path(state, "pids", f"{config.function_name}.{os.getpid()}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()
    except OSError:
        return None
    return path


def main(conn: Connection, config: WorkerConfig) -> None:
    # Ctrl-C reaches the whole process group; the parent decides when workers stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    pid_file = _pid_file(config)
    try:
        _serve(conn, config)
    finally:
        if pid_file:
            pid_file.unlink(missing_ok=True)


def _serve(conn: Connection, config: WorkerConfig) -> None:
    try:
        handler = _init(config)
    except ImportError as exc:
        module = config.handler.rpartition(".")[0]
        conn.send(("init_error", error_body(Exception(f"Unable to import module '{module}': {exc}"),
                                            "Runtime.ImportModuleError")))
        return
    except SyntaxError as exc:
        conn.send(("init_error", error_body(exc, "Runtime.UserCodeSyntaxError")))
        return
    except AttributeError as exc:
        conn.send(("init_error", error_body(exc, "Runtime.HandlerNotFound")))
        return
    except Exception as exc:
        conn.send(("init_error", error_body(exc)))
        return
    conn.send(("ready", None))
    while True:
        try:
            event_json, request_id, deadline = conn.recv()
        except (EOFError, OSError):
            return  # the parent went away
        conn.send(_run(handler, config, event_json, request_id, deadline))


def _run(handler: Callable[[Any, LambdaContext], Any], config: WorkerConfig, event_json: str,
         request_id: str, deadline: float) -> tuple[str, Any]:
    try:
        result = handler(json.loads(event_json), LambdaContext(config, request_id, deadline))
    except Exception as exc:
        return "error", error_body(exc, skip=1)
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
    try:
        return "ok", json.dumps(result)
    except (TypeError, ValueError) as exc:
        return "error", error_body(Exception(f"Unable to marshal response: {exc}"), "Runtime.MarshalError")
