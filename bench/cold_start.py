"""Cold-start import time of each Lambda function's handler module, against the floor every function pays.

For every function folder under functions/ a fresh `python -c` process (this interpreter) gets the environment
template.yaml gives that function (references resolved to plausible local values), puts the folder first on
sys.path and times `import app`: the CPU time the process spends on it (time.process_time, which a busy machine
disturbs far less than the wall clock) and, for reference, the wall time (time.perf_counter). The floor is
`import boto3` plus `from aws_lambda_powertools import Logger` in the same kind of process. One untimed round
first warms the bytecode and file caches; then the targets are interleaved for --repeats rounds. AWS_ENDPOINT_URL
points at a closed local port, so an import that called AWS would fail instead of reaching a network.

The warm-up column is the CPU time of the function's SnapStart before-snapshot hooks (spoonfeeder/snapstart.py:
creating its boto3 clients, importing what its first requests would, building the API's OpenAPI document). With
SnapStart on, import and warm-up both happen once per published version and every cold start resumes from the
snapshot; without it, the first requests pay the warm-up. Targets (x floor, import): the API 2.0, the others 1.5.

Run: .venv/bin/python bench/cold_start.py [--repeats 7]   (or: make bench)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
REGION, ACCOUNT = "us-east-1", "123456789012"
FLOOR = "import boto3\nfrom aws_lambda_powertools import Logger"
SDKS = ["openai", "anthropic", "google.genai"]
TARGETS = {"api": 2.0}  # x floor; every other function: DEFAULT_TARGET
DEFAULT_TARGET = 1.5
CHILD = """\
import json, sys, time
folder = {folder!r}
if folder:
    sys.path.insert(0, folder)
start, cpu = time.perf_counter(), time.process_time()
{statement}
ms, cpu_ms = (time.perf_counter() - start) * 1000, (time.process_time() - cpu) * 1000
sdks = [m for m in {sdks!r} if m in sys.modules]
warm_ms = None
if folder:
    from snapshot_restore_py import get_before_snapshot
    cpu = time.process_time()
    for hook, args, kwargs in get_before_snapshot():
        hook(*args, **kwargs)
    warm_ms = (time.process_time() - cpu) * 1000
print(json.dumps({{"ms": ms, "cpu_ms": cpu_ms, "warm_ms": warm_ms, "sdks": sdks}}))
"""


class _CfnLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short tags: `!Ref X` becomes {"Ref": "X"}, `!Sub s` {"Sub": "s"}, ..."""


def _tagged(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        return {suffix: loader.construct_scalar(node)}
    if isinstance(node, yaml.SequenceNode):
        return {suffix: loader.construct_sequence(node, deep=True)}
    return {suffix: loader.construct_mapping(node, deep=True)}  # type: ignore[arg-type]


_CfnLoader.add_multi_constructor("!", _tagged)


class Template:
    """Just enough of template.yaml to give each function its environment with plausible local values."""

    def __init__(self, path: Path) -> None:
        self.doc = yaml.load(path.read_text(encoding="utf-8"), Loader=_CfnLoader)
        self.resources: dict[str, Any] = self.doc["Resources"]
        params = self.doc.get("Parameters") or {}
        self.values = {k: str(v.get("Default", "")) for k, v in params.items()}
        self.values.update({"AWS::Region": REGION, "AWS::AccountId": ACCOUNT, "AWS::Partition": "aws"})

    def ref(self, name: str) -> str:
        if name in self.values:
            return self.values[name]
        kind = self.resources[name]["Type"]
        made = {
            "AWS::DynamoDB::Table": f"spoon-feeder-{name}-LOCAL01",
            "AWS::SQS::Queue": f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/spoon-feeder-{name}-LOCAL01",
            "AWS::SecretsManager::Secret": f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:{name}-AbCdEf",
            "AWS::Cognito::UserPool": f"{REGION}_LocalPool1",
            "AWS::Cognito::UserPoolClient": "4k3localclient0000000000ab",
            "AWS::ApiGatewayV2::Api": "abcde12345",
        }.get(kind, f"spoon-feeder-{name.lower()}-local01")
        if kind == "AWS::S3::Bucket" and "BucketName" in self.resources[name].get("Properties", {}):
            made = self.resolve(self.resources[name]["Properties"]["BucketName"])
        self.values[name] = made
        return made

    def resolve(self, value: Any) -> str:
        if isinstance(value, dict) and "Ref" in value:
            return self.ref(value["Ref"])
        if isinstance(value, dict) and "Sub" in value:
            return re.sub(r"\$\{([^}]+)\}", lambda m: self.ref(m.group(1).split(".")[0]), value["Sub"])
        if isinstance(value, dict) and "GetAtt" in value:
            return f"arn:aws:local:{REGION}:{ACCOUNT}:{value['GetAtt']}"
        return str(value)

    def env(self, folder: str) -> tuple[str, dict[str, str]]:
        """The logical id of the function whose CodeUri is functions/<folder>/, and its variables."""
        variables = dict(self.doc["Globals"]["Function"]["Environment"]["Variables"])
        logical_id = "(not in template)"
        for name, resource in self.resources.items():
            props = resource.get("Properties") or {}
            if resource["Type"] == "AWS::Serverless::Function" and props.get("CodeUri", "").rstrip("/") == (
                    f"functions/{folder}"):
                logical_id = name
                variables.update((props.get("Environment") or {}).get("Variables") or {})
        return logical_id, {k: self.resolve(v) for k, v in variables.items()}


def run_child(statement: str, folder: Path | None, env: dict[str, str]) -> dict[str, Any]:
    code = CHILD.format(folder=str(folder) if folder else "", statement=statement, sdks=SDKS)
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120,
                          cwd=folder or ROOT, check=False)
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"exit {done.returncode}"}
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def base_env() -> dict[str, str]:
    # PYTHONDONTWRITEBYTECODE would make every process compile the project's modules again: the warm-up round
    # writes their bytecode, as the layers ship theirs (see docs/benchmarks.md).
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AWS_", "POWERTOOLS_")) and k != "PYTHONDONTWRITEBYTECODE"}
    env.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION=REGION,
               AWS_REGION=REGION, AWS_ENDPOINT_URL="http://127.0.0.1:9", AWS_EC2_METADATA_DISABLED="true")
    return env


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=7, help="timed fresh processes per target")
    args = parser.parse_args()
    template = Template(ROOT / "template.yaml")
    folders = sorted(p.parent.name for p in (ROOT / "functions").glob("*/app.py"))
    targets: dict[str, tuple[str, Path | None, dict[str, str]]] = {"floor": (FLOOR, None, base_env())}
    names: dict[str, str] = {}
    for folder in folders:
        names[folder], variables = template.env(folder)
        targets[folder] = ("import app", ROOT / "functions" / folder, {**base_env(), **variables})
    order = sorted(folders, key=lambda f: list(template.resources).index(names[f]) if names[f] in
                   template.resources else len(template.resources))
    samples: dict[str, list[dict[str, Any]]] = {name: [] for name in targets}
    errors: dict[str, str] = {}
    for round_ in range(args.repeats + 1):  # round 0 warms caches and is not counted
        for name, (statement, folder, env) in targets.items():
            if name in errors:
                continue
            result = run_child(statement, folder, env)
            if "error" in result:
                errors[name] = result["error"]
            elif round_ > 0:
                samples[name].append(result)

    def median(name: str, key: str) -> float:
        return statistics.median(sample[key] for sample in samples[name])

    print(f"Python {platform.python_version()} ({platform.python_implementation()}), {platform.machine()}")
    print(f"{args.repeats} fresh processes per target after one warm-up round; bytecode caches warm; no AWS calls")
    print("medians; x floor and the target compare CPU times; warm-up = SnapStart before-snapshot hooks (CPU)")
    if "floor" in errors:
        raise SystemExit(f"the floor itself failed to import: {errors['floor']}")
    floor = median("floor", "cpu_ms")
    print(f"{'function':<36}{'CPU ms':>8}{'wall ms':>9}{'x floor':>9}{'target':>8}{'warm-up ms':>12}")
    print(f"{'floor (boto3 + Logger)':<36}{floor:>8.1f}{median('floor', 'ms'):>9.1f}{1:>9.2f}")
    for folder in order:
        label = f"{folder} ({names[folder]})"
        if folder in errors:
            print(f"{label:<36}  IMPORT FAILED: {errors[folder]}")
            continue
        cpu, target = median(folder, "cpu_ms"), TARGETS.get(folder, DEFAULT_TARGET)
        verdict = "" if cpu / floor <= target else "  above target"
        print(f"{label:<36}{cpu:>8.1f}{median(folder, 'ms'):>9.1f}{cpu / floor:>9.2f}{target:>8.1f}"
              f"{median(folder, 'warm_ms'):>12.1f}{verdict}")
    last = {name: runs[-1] for name, runs in samples.items() if runs}
    if "llm_worker" in last:
        loaded = last["llm_worker"]["sdks"]
        print(f"llm_worker: provider SDKs in sys.modules after `import app`: {', '.join(loaded) or 'none'}"
              f" (checked: {', '.join(SDKS)})")


if __name__ == "__main__":
    main()
