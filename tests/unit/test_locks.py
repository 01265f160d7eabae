"""The lock files agree with the requirement files and with each other, so `make install` and `sam build` install
exactly the versions that were tested. A failure here means a requirement file changed without `make lock`."""

from __future__ import annotations

from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
CORE, PROVIDERS, DEV = "layers/core/requirements.txt", "layers/providers/requirements.txt", "requirements-dev.txt"
DEV_LOCK = "requirements-lock.txt"
LAYER_LOCKS = {"layers/core/requirements-lock.txt": [CORE],
               "layers/providers/requirements-lock.txt": [CORE, PROVIDERS]}
TOOL_LOCKS = {str(p.relative_to(ROOT).with_suffix(".txt")): p
              for p in sorted((ROOT / "tools").glob("*-requirements.in"))}
# The Lambda runtime the layers are built for (template.yaml: python3.13 on arm64).
LAMBDA = {"python_version": "3.13", "python_full_version": "3.13.0", "sys_platform": "linux",
          "platform_system": "Linux", "platform_machine": "aarch64", "os_name": "posix",
          "implementation_name": "cpython", "platform_python_implementation": "CPython"}


def requirements(*paths: str | Path) -> list[Requirement]:
    lines = (line.split("#", 1)[0].strip() for path in paths for line in (ROOT / path).read_text().splitlines())
    return [Requirement(line) for line in lines if line]


def pins(path: str | Path) -> list[tuple[Requirement, list[str]]]:
    """Each `name==version ; marker` entry of a lock file with the hashes given for it."""
    entries: list[tuple[Requirement, list[str]]] = []
    text = (ROOT / path).read_text().replace("\\\n", " ")
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        spec, *hashes = line.split("--hash=")
        entries.append((Requirement(spec.strip()), [h.strip() for h in hashes]))
    return entries


def pinned_version(requirement: Requirement) -> str:
    (specifier,) = requirement.specifier
    assert specifier.operator == "==", f"{requirement} is not pinned with =="
    return specifier.version


def assert_satisfied(lock: str | Path, wanted: list[Requirement], env: dict[str, str] | None = None) -> None:
    locked: dict[str, list[str]] = {}
    for requirement, _ in pins(lock):
        if requirement.marker is None or env is None or requirement.marker.evaluate(env):
            locked.setdefault(canonicalize_name(requirement.name), []).append(pinned_version(requirement))
    for requirement in wanted:
        if requirement.marker is not None and env is not None and not requirement.marker.evaluate(env):
            continue
        versions = locked.get(canonicalize_name(requirement.name), [])
        assert versions, f"{requirement} is not in {lock}: run `make lock` and commit the lock files"
        assert all(requirement.specifier.contains(v, prereleases=True) for v in versions), (
            f"{lock} pins {requirement.name} {versions}, outside {requirement.specifier}: run `make lock`")


def test_the_dev_lock_pins_every_requirement_of_the_dev_environment_and_the_layers() -> None:
    assert_satisfied(DEV_LOCK, requirements(CORE, PROVIDERS, DEV))


@pytest.mark.parametrize("lock", sorted(LAYER_LOCKS))
def test_each_layer_lock_pins_its_requirements_for_the_lambda_runtime(lock: str) -> None:
    assert_satisfied(lock, requirements(*LAYER_LOCKS[lock]), LAMBDA)


@pytest.mark.parametrize("lock", sorted(LAYER_LOCKS))
def test_layers_ship_the_versions_the_tests_run_with(lock: str) -> None:
    # The dev lock's pins as they apply here (this interpreter), where the tests run: a package the universal
    # lock pins differently per Python version would reach the runtime untested.
    tested = {canonicalize_name(r.name): pinned_version(r) for r, _ in pins(DEV_LOCK)
              if r.marker is None or r.marker.evaluate()}
    for requirement, _ in pins(lock):
        name, version = canonicalize_name(requirement.name), pinned_version(requirement)
        if name in tested:  # else a package only the runtime's Python needs (none today)
            assert tested[name] == version, (
                f"{lock} pins {name}=={version}, the tests run {tested[name]}: run `make lock`, or narrow the "
                "requirement's range so one version serves both Pythons")
        else:
            assert any(canonicalize_name(r.name) == name for r, _ in pins(DEV_LOCK)), f"{name} is not in {DEV_LOCK}"


@pytest.mark.parametrize("tool_lock", sorted(TOOL_LOCKS))
def test_each_tool_lock_pins_its_inputs(tool_lock: str) -> None:
    assert_satisfied(tool_lock, requirements(TOOL_LOCKS[tool_lock]))


@pytest.mark.parametrize("lock", [DEV_LOCK, *sorted(LAYER_LOCKS), *sorted(TOOL_LOCKS)])
def test_every_pin_carries_hashes(lock: str) -> None:
    entries = pins(lock)
    assert entries
    for requirement, hashes in entries:
        pinned_version(requirement)
        assert hashes and all(h.startswith("sha256:") for h in hashes), f"{requirement} in {lock} has no hashes"
