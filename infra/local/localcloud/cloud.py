"""The whole local cloud in one process: moto, the template's resources, functions, pollers, gateway."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import json
import logging
import os
import secrets
import signal
import string
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .functions import FunctionRegistry
from .moto_process import MotoServer
from .runners import EventSourceRunners, ScheduleRunners
from .stack import RoleCredentials, Stack, aws_client, create_admin, create_stack

__all__ = ["LocalCloud", "Settings", "main"]

log = logging.getLogger("localcloud")
REGION = "us-east-1"
READY_LINE = "Spoon Feeder local cloud is up"
#: Template parameters the local cloud sets unless SPOON_PARAMETERS does: users' provider endpoints may name
#: the local fakes (plain http on loopback), which the deployed default refuses.
LOCAL_PARAMETERS = {"ProviderEndpointAllowedHosts": "127.0.0.1,localhost"}


#: Each cloud provider: the prefix of its environment variables, and the fake (module, class) that answers
#: in its place when no key is given.
PROVIDER_FAKES = {
    "openai": ("OPENAI", ("openai_server", "FakeOpenAI")),
    "anthropic": ("ANTHROPIC", ("anthropic_server", "FakeAnthropic")),
    "gemini": ("GEMINI", ("gemini_server", "FakeGemini")),
}


@dataclass(frozen=True)
class ProviderAccess:
    api_key: str | None = field(default=None, repr=False)  # never printed
    base_url: str | None = None  # None: the SDK's own default endpoint


@dataclass
class Settings:
    """What the local cloud is told through the environment (``from_env``); relative paths are taken from
    the current directory.

    ``SPOON_PORT``            the gateway's port (3001): HTTP API under /api, WebSocket API under /ws
    ``SPOON_AWS_PORT``        moto's port, the local AWS endpoint (``SPOON_PORT`` + 1)
    ``SPOON_STATE_DIR``       where moto.log and stack.json go (.local)
    ``SPOON_TEMPLATE``        the SAM template (template.yaml)
    ``SPOON_PARAMETERS``      template parameter overrides: ``Key=Value`` pairs separated by spaces
    ``SPOON_DEV_USER``        the Cognito user made at start (dev@spoonfeeder.local)
    ``SPOON_DEV_PASSWORD``    its password (default: a random one, written to stack.json)
    ``SPOON_LOG_LEVEL``       the local cloud's log level (INFO), also given to the functions' Powertools
    ``SPOON_SCHEDULE_SCALE``  a positive number every schedule's period is multiplied by (1.0): 0.02 fires a
                              ``rate(1 minute)`` rule every 1.2 s; ``cron()`` schedules are not run locally
    ``SPOON_IAM``             ``enforce`` (the default): every AWS call is checked against the caller's IAM
                              policies, functions run as their roles; ``off`` checks nothing
    ``SPOON_AGENTS``          how many GPU agents (``spoon-agent`` processes) to run (1); 0 runs none
    ``SPOON_AGENT_METRICS_PORT``  the first agent's Prometheus port (``SPOON_PORT`` + 3; the next agents count
                              up from it); 0 serves no metrics
    ``OLLAMA_URL``            a real Ollama for the agents; without it they drive the local fake of Ollama,
                              labelled simulated
    ``COMFYUI_URL``           a real ComfyUI for the agents (e.g. ``python main.py --cpu``); without it they
                              drive the local fake of ComfyUI, labelled simulated
    ``OPENAI_API_KEY``, ``OPENAI_BASE_URL``, ``ANTHROPIC_API_KEY``, ``ANTHROPIC_BASE_URL``, ``GEMINI_API_KEY``,
    ``GEMINI_BASE_URL``       a real provider (the base URL is optional); a provider without a key is answered
                              by its local fake, labelled simulated
    """

    port: int = 3001
    aws_port: int = 3002
    state_dir: Path = Path(".local")
    template: Path = Path("template.yaml")
    parameters: dict[str, str] = field(default_factory=dict)
    dev_user: str = "dev@spoonfeeder.local"
    dev_password: str | None = None
    providers: dict[str, ProviderAccess] = field(default_factory=dict)
    log_level: str | None = None
    schedule_scale: float = 1.0
    enforce_iam: bool = True
    agents: int = 1
    agent_metrics_port: int = 3004
    ollama_url: str | None = None
    comfyui_url: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ, cwd: Path | None = None) -> Settings:
        cwd = cwd or Path.cwd()
        port = int(env.get("SPOON_PORT") or 3001)
        pairs = (item.partition("=") for item in (env.get("SPOON_PARAMETERS") or "").split())
        return cls(
            port=port, aws_port=int(env.get("SPOON_AWS_PORT") or port + 1),
            state_dir=cwd / (env.get("SPOON_STATE_DIR") or ".local"),
            template=cwd / (env.get("SPOON_TEMPLATE") or "template.yaml"),
            parameters={key: value for key, sep, value in pairs if key and sep},
            dev_user=env.get("SPOON_DEV_USER") or "dev@spoonfeeder.local",
            dev_password=env.get("SPOON_DEV_PASSWORD") or None,
            providers={name: ProviderAccess(env.get(f"{prefix}_API_KEY") or None, env.get(f"{prefix}_BASE_URL") or None)
                       for name, (prefix, _) in PROVIDER_FAKES.items()},
            log_level=env.get("SPOON_LOG_LEVEL") or None,
            schedule_scale=_scale(env.get("SPOON_SCHEDULE_SCALE")),
            enforce_iam=_iam(env.get("SPOON_IAM")),
            agents=int(env.get("SPOON_AGENTS") or 1),
            agent_metrics_port=int(env.get("SPOON_AGENT_METRICS_PORT") or port + 3),
            ollama_url=env.get("OLLAMA_URL") or None,
            comfyui_url=env.get("COMFYUI_URL") or None)


def _iam(text: str | None) -> bool:
    if (text or "enforce").lower() not in ("enforce", "off"):
        raise ValueError(f"SPOON_IAM must be enforce or off, not {text!r}")
    return (text or "enforce").lower() == "enforce"


def _scale(text: str | None) -> float:
    if not text:
        return 1.0
    try:
        scale = float(text)
    except ValueError:
        scale = 0.0
    if not 0 < scale < float("inf"):
        raise ValueError(f"SPOON_SCHEDULE_SCALE must be a positive number, not {text!r}")
    return scale


def new_password(policy: Mapping[str, Any]) -> str:
    """A random password that satisfies the user pool's password policy."""
    length = max(16, int(policy.get("MinimumLength", 8)))
    classes = [string.ascii_lowercase, string.ascii_uppercase, string.digits]
    if policy.get("RequireSymbols"):
        classes.append("^$*.[]{}()?-!@#%&,><:;|_~")
    chars = [secrets.choice(c) for c in classes]
    alphabet = string.ascii_letters + string.digits
    chars += [secrets.choice(alphabet) for _ in range(length - len(chars))]
    secrets.SystemRandom().shuffle(chars)
    return "".join(chars)


class LocalCloud:
    """``await start()`` brings everything up and returns what clients need; ``await stop()`` undoes it."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.moto: MotoServer | None = None
        self.stack: Stack | None = None
        self.registry: FunctionRegistry | None = None
        self._stack = contextlib.AsyncExitStack()

    def _client(self, service: str) -> Any:
        assert self.moto is not None
        return aws_client(service, self.moto.url, REGION)

    async def start(self) -> dict[str, Any]:
        try:
            return await self._start()
        except BaseException:
            await self.stop()
            raise

    async def _start(self) -> dict[str, Any]:
        s = self.settings
        s.state_dir.mkdir(parents=True, exist_ok=True)
        moto_log = self._stack.enter_context(open(s.state_dir / "moto.log", "ab"))  # noqa: SIM115
        self.moto = MotoServer(s.aws_port, log=moto_log)
        self._stack.callback(self.moto.stop)
        await asyncio.to_thread(self.moto.start)
        log.info("moto listening on %s", self.moto.url)
        # The local cloud's own calls (setup, pollers, schedules, gateway) use an admin user, as AWS's
        # services act for themselves; only the functions run with their roles' rights.
        admin = await asyncio.to_thread(create_admin, self.moto.url, REGION)
        stack = await asyncio.to_thread(create_stack, s.template, self.moto.url, REGION,
                                        {**LOCAL_PARAMETERS, **s.parameters})
        self.stack = stack
        log.info("stack created: %d resources, %d functions", len(stack.resources), len(stack.functions))
        password = await asyncio.to_thread(self._dev_user)
        simulated = await asyncio.to_thread(self._provider_secret)
        credentials = {logical_id: RoleCredentials(self.moto.url, REGION, spec.role, spec.name).env
                       for logical_id, spec in stack.functions.items() if spec.role}
        if s.enforce_iam:
            await asyncio.to_thread(self.moto.enforce_iam)
            log.info("IAM enforced: functions run with their roles' credentials")
        # Fail now rather than at a function's first call.
        await asyncio.gather(*(asyncio.to_thread(get) for get in credentials.values()))

        jwks_url = f"{self.moto.url}/{stack.user_pool_id}/.well-known/jwks.json"
        overlay = {"AWS_ENDPOINT_URL": self.moto.url, "AWS_REGION": REGION, "AWS_DEFAULT_REGION": REGION,
                   "JWKS_URL": jwks_url, "WS_MANAGEMENT_URL": f"http://127.0.0.1:{s.port}/_ws/{stack.ws_stage}"}
        if s.log_level:
            overlay["POWERTOOLS_LOG_LEVEL"] = s.log_level.upper()
        self.registry = registry = FunctionRegistry(stack.functions, overlay, credentials=credentials)
        self._stack.callback(registry.close)

        runners = EventSourceRunners(stack.event_sources, registry.invoke_result, self.moto.url, REGION)
        self._stack.push_async_callback(runners.stop)
        await runners.start()
        schedules = ScheduleRunners(stack.schedules, registry.invoke_result, stack.region, stack.account_id,
                                    scale=s.schedule_scale)
        self._stack.push_async_callback(schedules.stop)
        await schedules.start()

        from .gateway import Gateway  # the gateway (aiohttp, jwt) is only needed by the whole cloud

        gateway = Gateway(
            host="127.0.0.1", port=s.port, invoke=registry.invoke, http_routes=stack.http_routes,
            http_api_id=stack.http_api_id or "", ws_api_id=stack.ws_api_id or "",
            ws_stage=stack.ws_stage or "", ws_function=stack.ws_function or "",
            jwt_issuer=stack.jwt_issuer or "",
            jwt_audience=stack.jwt_audience, jwks_url=jwks_url, throttle=stack.throttle,
            region=stack.region, account_id=stack.account_id)
        self._stack.push_async_callback(gateway.stop)  # first to stop: $disconnect still reaches functions
        await gateway.start()

        agents = await asyncio.to_thread(self._agents, admin)
        info = {"api_url": f"http://127.0.0.1:{gateway.port}/api", "ws_url": f"ws://127.0.0.1:{gateway.port}/ws",
                "username": s.dev_user, "password": password, "aws_endpoint_url": self.moto.url,
                # The admin user's keys, for tools and tests that call the local AWS directly.
                "aws_access_key_id": admin["aws_access_key_id"],
                "aws_secret_access_key": admin["aws_secret_access_key"], "iam_enforced": s.enforce_iam,
                "user_pool_id": stack.user_pool_id, "user_pool_client_id": stack.user_pool_client_id,
                "simulated_providers": simulated, "resources": stack.resources, **agents}
        path = s.state_dir / "stack.json"
        path.write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
        path.chmod(0o600)  # it holds the dev user's password and the admin keys
        return info

    def _dev_user(self) -> str:
        assert self.stack is not None and self.stack.user_pool_id
        cognito, pool = self._client("cognito-idp"), self.stack.user_pool_id
        described = cognito.describe_user_pool(UserPoolId=pool)["UserPool"]
        policy = described.get("Policies", {}).get("PasswordPolicy", {})
        password = self.settings.dev_password or new_password(policy)
        user = self.settings.dev_user
        cognito.admin_create_user(UserPoolId=pool, Username=user, MessageAction="SUPPRESS", UserAttributes=[
            {"Name": "email", "Value": user}, {"Name": "email_verified", "Value": "true"}])
        cognito.admin_set_user_password(UserPoolId=pool, Username=user, Password=password, Permanent=True)
        log.info("dev user %s created", user)
        return password

    def _provider_secret(self) -> list[str]:
        """The operator defaults of every cloud provider: the real one where a key is given, else its fake
        (started here, stopped with the cloud), marked simulated. Returns the simulated providers."""
        assert self.stack is not None
        secret_id = self.stack.resources.get("ProviderSecret")
        value: dict[str, Any] = {}
        simulated: list[str] = []
        for name, (prefix, (module, class_name)) in PROVIDER_FAKES.items():
            access = self.settings.providers.get(name) or ProviderAccess()
            if access.api_key:
                value[name] = {"api_key": access.api_key, "base_url": access.base_url}
                continue
            fake_class = getattr(importlib.import_module(f"{__package__}.fakes.{module}"), class_name)
            fake = fake_class(host="127.0.0.1", port=0, api_key=None).start()
            self._stack.callback(fake.stop)
            value[name] = {"api_key": "simulated", "base_url": fake.base_url, "simulated": True}
            simulated.append(name)
            log.warning("SIMULATED provider: %s answers from a local fake at %s (set %s_API_KEY to use the real "
                        "one)", name, fake.base_url, prefix)
        if secret_id:
            self._client("secretsmanager").put_secret_value(SecretId=secret_id, SecretString=json.dumps(value))
        else:
            log.warning("the template has no ProviderSecret; provider credentials not stored")
        return simulated

    def _fake(self, what: str, variable: str, fake: Any) -> str:
        """Start a protocol fake for the agents (offline mode), stopped with the cloud; its URL."""
        fake.start()
        self._stack.callback(fake.stop)
        log.warning("SIMULATED %s: the GPU agents drive a local fake at %s (set %s to use a real one)", what,
                    fake.base_url, variable)
        return str(fake.base_url)

    def _agents(self, admin: dict[str, str]) -> dict[str, Any]:
        """The GPU agents, next to a real Ollama (OLLAMA_URL) and ComfyUI (COMFYUI_URL), or the local fakes of
        them, labelled simulated."""
        assert self.stack is not None and self.moto is not None
        s = self.settings
        if s.agents <= 0 or "GpuAgentRole" not in self.stack.resources:
            return {"agents": []}
        from .fakes.comfyui_server import FakeComfyUI
        from .fakes.ollama_server import FakeOllama

        ollama_url = s.ollama_url or self._fake("Ollama", "OLLAMA_URL", FakeOllama(port=0, chunk_delay=0.02))
        comfyui_url = s.comfyui_url or self._fake("ComfyUI", "COMFYUI_URL", FakeComfyUI(port=0, step_delay=0.05))
        from .agents import AgentFleet

        fleet = AgentFleet(self.stack, self.moto.url, REGION, admin, s.state_dir, ollama_url,
                           simulated=s.ollama_url is None, metrics_port=s.agent_metrics_port,
                           comfyui_url=comfyui_url, comfyui_simulated=s.comfyui_url is None)
        self._stack.callback(fleet.stop)
        return {"agents": fleet.start(s.agents), "ollama_url": ollama_url, "ollama_simulated": s.ollama_url is None,
                "comfyui_url": comfyui_url, "comfyui_simulated": s.comfyui_url is None,
                "agent_env": fleet.settings()}

    async def stop(self) -> None:
        await self._stack.aclose()


async def _serve(settings: Settings) -> int:
    cloud = LocalCloud(settings)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopping.set)
    try:
        starting = asyncio.create_task(cloud.start())
        waiting = asyncio.create_task(stopping.wait())
        await asyncio.wait({starting, waiting}, return_when=asyncio.FIRST_COMPLETED)
        if not starting.done():  # interrupted while starting
            starting.cancel()
            await asyncio.gather(starting, return_exceptions=True)
            return 0
        waiting.cancel()
        info = starting.result()
        print(json.dumps(info, indent=2), flush=True)
        print(READY_LINE, flush=True)
        await stopping.wait()
        log.info("stopping")
        return 0
    finally:
        await cloud.stop()


def main() -> int:
    settings = Settings.from_env()
    logging.basicConfig(level=(settings.log_level or "INFO").upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s")
    for noisy in ("botocore", "boto3", "urllib3", "aiohttp.access", "samtranslator", "cfnlint"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        return asyncio.run(_serve(settings))
    except Exception:
        log.exception("the local cloud failed")
        return 1
