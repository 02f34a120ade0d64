"""The lock file the images install from: every pin hashed, and in step with pyproject.toml.

``scripts/lock.sh`` writes ``requirements.lock``; both Dockerfiles install it with
``--require-hashes``, then the project with ``--no-deps``. These tests read the files only: the
install itself (hashes checked by pip, ``pip check`` over the result) is what
``test_images.image_venv`` does, the way the build stage does it.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
LOCK = ROOT / "requirements.lock"
BUILD_LOCK = ROOT / "requirements-build.lock"
DOCKERFILES = {"runtime": ROOT / "runtime" / "Dockerfile", "operator": ROOT / "operator" / "Dockerfile"}
MACHINES = ("x86_64", "aarch64")


@dataclass(frozen=True)
class Pin:
    requirement: Requirement
    hashes: tuple[str, ...]

    @property
    def version(self) -> Version:
        [specifier] = self.requirement.specifier
        return Version(specifier.version)


def read_lock(text: str) -> list[Pin]:
    """The pins of a pip requirements file written with hashes (continuation lines joined)."""
    logical = re.sub(r"\\\n", " ", "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#")))
    pins = []
    for line in filter(str.strip, logical.splitlines()):
        requirement, *hashes = (part.strip() for part in line.split("--hash="))
        pins.append(Pin(Requirement(requirement), tuple(hashes)))
    return pins


def image_python() -> str:
    """The images' Python version, from the base image both Dockerfiles name."""
    bases = {
        re.search(r"^ARG PYTHON_IMAGE=python:(\d+\.\d+\.\d+)-", path.read_text(), re.M) for path in DOCKERFILES.values()
    }
    versions = {found.group(1) for found in bases if found}
    assert len(versions) == 1, f"both images must share one Python (one lock fits both): {versions}"
    return versions.pop()


def image_environment(machine: str) -> dict[str, str]:
    """Marker values inside the images: Linux, CPython at the base image's version."""
    full = image_python()
    return {
        **default_environment(),
        "python_version": full.rsplit(".", 1)[0],
        "python_full_version": full,
        "implementation_name": "cpython",
        "implementation_version": full,
        "platform_python_implementation": "CPython",
        "sys_platform": "linux",
        "platform_system": "Linux",
        "os_name": "posix",
        "platform_machine": machine,
    }


def declared() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return [Requirement(line) for line in project["dependencies"]]


def applies(requirement: Requirement, environment: dict[str, str]) -> bool:
    return requirement.marker is None or requirement.marker.evaluate(environment)


def test_every_locked_package_is_pinned_to_one_version_with_hashes() -> None:
    pins = read_lock(LOCK.read_text(encoding="utf-8"))
    assert len(pins) > 20
    for pin in pins:
        [specifier] = pin.requirement.specifier
        assert specifier.operator == "==", f"{pin.requirement}: not pinned"
        assert pin.hashes and all(re.fullmatch(r"sha256:[0-9a-f]{64}", h) for h in pin.hashes), pin.requirement
    names = [canonicalize_name(pin.requirement.name) for pin in pins]
    assert len(names) == len(set(names)), "a package is locked twice"


def lock_problems(pins: list[Pin], requirements: list[Requirement], environment: dict[str, str]) -> list[str]:
    """Each requirement that applies in ``environment`` and that no pin satisfies, with why."""
    locked = {
        canonicalize_name(pin.requirement.name): pin.version for pin in pins if applies(pin.requirement, environment)
    }
    problems = []
    for requirement in requirements:
        if not applies(requirement, environment):
            continue
        version = locked.get(canonicalize_name(requirement.name))
        if version is None:
            problems.append(f"{requirement}: not in the lock")
        elif not requirement.specifier.contains(version, prereleases=True):
            problems.append(f"{requirement}: the lock has {version}")
    return problems


@pytest.mark.parametrize("machine", MACHINES)
def test_the_lock_holds_every_declared_dependency_within_its_range(machine: str) -> None:
    pins = read_lock(LOCK.read_text(encoding="utf-8"))
    problems = lock_problems(pins, declared(), image_environment(machine))
    assert problems == [], "requirements.lock is stale: run bash scripts/lock.sh\n" + "\n".join(problems)


@pytest.mark.parametrize("machine", MACHINES)
def test_the_build_lock_holds_the_build_backend_within_its_range_with_hashes(machine: str) -> None:
    pins = read_lock(BUILD_LOCK.read_text(encoding="utf-8"))
    assert all(pin.hashes for pin in pins)
    build_system = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["build-system"]
    requirements = [Requirement(line) for line in build_system["requires"]] + [Requirement("wheel")]
    problems = lock_problems(pins, requirements, image_environment(machine))
    assert problems == [], "requirements-build.lock is stale: run bash scripts/lock.sh\n" + "\n".join(problems)


def test_a_lock_missing_a_dependency_or_out_of_its_range_is_caught() -> None:
    hashed = " \\\n    --hash=sha256:" + "0" * 64 + "\n    # via kube-agentos\n"
    drifted = read_lock(f"PyYAML==5.4.1{hashed}uvloop==0.19.0 ; sys_platform != 'win32'{hashed}")
    requirements = [
        Requirement("pyyaml>=6"),
        Requirement("redis>=5"),
        Requirement("uvloop>=0.19; sys_platform != 'win32'"),
    ]
    assert lock_problems(drifted, requirements, image_environment("x86_64")) == [
        "pyyaml>=6: the lock has 5.4.1",
        "redis>=5: not in the lock",
    ]
    windows = {**image_environment("x86_64"), "sys_platform": "win32"}
    assert lock_problems(drifted[:1], requirements[2:], windows) == []


@pytest.mark.parametrize("name", sorted(DOCKERFILES))
def test_the_image_installs_the_lock_with_hashes_then_the_project_alone(name: str) -> None:
    text = DOCKERFILES[name].read_text().replace("\\\n", " ")
    assert re.search(r"^COPY requirements\.lock requirements-build\.lock \./$", text, re.M)
    install = re.search(r"pip install [^&\n]*--require-hashes -r requirements\.lock", text)
    build = re.search(r"pip install [^&\n]*--require-hashes -r requirements-build\.lock", text)
    wheel = re.search(r"pip wheel [^&\n]*--no-build-isolation", text)
    project = re.search(r"pip install [^&\n]*--no-deps /wheels/\*\.whl", text)
    check = re.search(r"/opt/agentos/bin/pip check", text)
    assert install and project and check, f"{name}: install the lock with hashes, the project with --no-deps, pip check"
    assert build and wheel, f"{name}: build the wheel from the hashed build lock without build isolation"
    assert install.start() < build.start() < wheel.start() < project.start() < check.start()


def test_the_lock_script_resolves_for_the_images_python() -> None:
    script = (ROOT / "scripts" / "lock.sh").read_text(encoding="utf-8")
    assert "runtime/Dockerfile" in script and "--python-version" in script and "--generate-hashes" in script
    assert "--output-file requirements.lock" in script and "--universal" in script
    assert image_python().startswith("3.")
