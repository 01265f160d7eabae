"""moto's server as a child process: the local stand-in for every AWS API the template uses."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from types import TracebackType
from typing import IO, Self

__all__ = ["PRELOAD", "MotoServer", "free_port"]

#: moto imports a service's backend on its first request; CloudFormation's pulls in most others (~2 s).
#: Importing them in the server while it starts overlaps that with whatever the caller does meanwhile.
PRELOAD = ("moto.cloudformation.models", "moto.cognitoidp.models")

# ``python -m moto.server`` plus two threads: the preloads, and a watchdog that ends the server when our
# end of its stdin closes, so a parent that dies without stopping it does not leave the port taken.
_LAUNCHER = """
import importlib, os, sys, threading
from localcloud import moto_patches
moto_patches.apply()
def watchdog():
    sys.stdin.buffer.read()
    os._exit(0)
def preload():
    for name in {modules!r}:
        importlib.import_module(name)
threading.Thread(target=watchdog, daemon=True).start()
threading.Thread(target=preload, daemon=True).start()
from moto.server import main
main(sys.argv[1:])
"""


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class MotoServer:
    """moto's server (``moto.server.main``) on ``host:port``; ``with MotoServer(port) as moto: moto.url``."""

    def __init__(self, port: int = 0, host: str = "127.0.0.1", *, python: str = sys.executable,
                 log: IO[bytes] | int | None = subprocess.DEVNULL, start_timeout: float = 30.0,
                 preload: Sequence[str] = PRELOAD) -> None:
        self.host = host
        self.port = port or free_port(host)
        self.python = python
        self.log = log
        self.start_timeout = start_timeout
        self.preload = tuple(preload)
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> Self:
        if self.process is not None:
            raise RuntimeError("moto server already started")
        env = dict(os.environ)
        # The server must not forward to (or be configured for) a real endpoint inherited from us.
        env.pop("AWS_ENDPOINT_URL", None)
        # The managed policies SAM attaches to execution roles (AWSLambdaBasicExecutionRole, ...) exist in
        # moto only when it loads AWS's managed policies; without them the roles lack those policies.
        env.setdefault("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
        self.process = subprocess.Popen(
            [self.python, "-c", _LAUNCHER.format(modules=list(self.preload)),
             "-H", self.host, "-p", str(self.port)],
            stdin=subprocess.PIPE, stdout=self.log, stderr=self.log, env=env,
            # Out of the terminal's process group: Ctrl-C must not stop AWS before what still uses it.
            start_new_session=True,
        )
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.start_timeout
        while True:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"moto server exited with code {self.process.returncode}")
            try:
                with urllib.request.urlopen(f"{self.url}/moto-api/", timeout=1):
                    return
            except urllib.error.HTTPError:
                return  # it answered, whatever the status
            except OSError:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"moto server not answering on {self.url}") from None
                time.sleep(0.05)

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        if process.stdin is not None:
            process.stdin.close()
        if process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=3)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def enforce_iam(self, enforce: bool = True) -> None:
        """Check every later request's signature and IAM permissions (moto's ``/moto-api/reset-auth``).

        Until then nothing is checked, which is how the local cloud makes its admin user and stack."""
        request = urllib.request.Request(f"{self.url}/moto-api/reset-auth", method="POST",
                                         data=b"0" if enforce else b"inf",
                                         headers={"Content-Type": "text/plain"})
        with urllib.request.urlopen(request, timeout=10):
            pass

    def reset(self) -> None:
        """Forget every resource (moto's ``/moto-api/reset``)."""
        request = urllib.request.Request(f"{self.url}/moto-api/reset", method="POST")
        with urllib.request.urlopen(request, timeout=10):
            pass

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
