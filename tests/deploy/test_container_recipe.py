"""The container recipe's invariants, checked from the files themselves (no Docker engine needed).

Dockerfile and .dockerignore are parsed as text, docker-compose.yaml as YAML, and the parts that
can run without an engine do run: the image's environment goes through the real config loader,
and the HEALTHCHECK command is executed against a real health server.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path, PurePosixPath

import pytest
import yaml

from ds_monitor.config import DolphinSchedulerConfig, load_config
from ds_monitor.http_endpoint import Health, HealthServer
from ds_monitor.telemetry import MonitorMetrics

REPO = Path(__file__).resolve().parents[2]
RUN_COMMAND = ["python", "main.py", "run"]


@dataclass(frozen=True)
class Instruction:
    keyword: str
    args: str
    line: int

    def exec_form(self) -> list[str]:
        """The JSON array of an exec-form instruction (CMD ["a", "b"])."""
        assert self.args.startswith("["), f"line {self.line}: {self.keyword} is not in exec form: {self.args}"
        return json.loads(self.args)


def parse_dockerfile(text: str) -> list[Instruction]:
    """Instructions with continuation lines joined and comments dropped, as the builder reads them."""
    instructions: list[Instruction] = []
    pending, start = "", 0
    for number, raw in enumerate(text.splitlines(), 1):
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if not pending:
            start = number
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        keyword, _, args = (pending + stripped).partition(" ")
        instructions.append(Instruction(keyword.upper(), args.strip(), start))
        pending = ""
    assert not pending, "Dockerfile ends inside a continuation line"
    return instructions


def dockerignore_excludes(patterns: list[str], path: str) -> bool:
    """Whether the builder leaves ``path`` out of the context: the last matching pattern decides."""
    excluded = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        regex = _glob_regex(pattern.lstrip("!").strip("/"))
        parts = path.split("/")
        # A pattern that matches a directory applies to everything below it.
        if any(re.fullmatch(regex, "/".join(parts[:i])) for i in range(1, len(parts) + 1)):
            excluded = not negated
    return excluded


def _glob_regex(pattern: str) -> str:
    out, i = [], 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        elif pattern[i] == "[":
            end = pattern.index("]", i)
            out.append(pattern[i:end + 1])
            i = end + 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return "".join(out)


@pytest.fixture(scope="module")
def dockerfile() -> list[Instruction]:
    return parse_dockerfile((REPO / "Dockerfile").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def dockerignore() -> list[str]:
    lines = (REPO / ".dockerignore").read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.strip().startswith("#")]


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((REPO / "docker-compose.yaml").read_text(encoding="utf-8"))


def only(instructions: list[Instruction], keyword: str) -> Instruction:
    found = [i for i in instructions if i.keyword == keyword]
    assert len(found) == 1, f"expected exactly one {keyword}, found {len(found)}"
    return found[0]


def index_of(instructions: list[Instruction], predicate) -> int:
    matches = [n for n, i in enumerate(instructions) if predicate(i)]
    assert matches, "no matching instruction"
    return matches[0]


def image_env(instructions: list[Instruction]) -> dict[str, str]:
    env: dict[str, str] = {}
    for instruction in instructions:
        if instruction.keyword == "ENV":
            env.update(item.split("=", 1) for item in shlex.split(instruction.args))
    return env


def workdir(instructions: list[Instruction]) -> PurePosixPath:
    return PurePosixPath(only(instructions, "WORKDIR").args)


def copy_sources(instructions: list[Instruction]) -> list[str]:
    sources = []
    for instruction in instructions:
        if instruction.keyword == "COPY":
            words = [w for w in shlex.split(instruction.args) if not w.startswith("--")]
            sources.extend(words[:-1])
    return sources


# --- Dockerfile ---------------------------------------------------------------------------------------

def test_base_is_python_311_slim(dockerfile):
    assert dockerfile[0].keyword == "FROM"
    assert dockerfile[0].args.startswith("python:3.11-slim")


def test_cmd_runs_the_loop_in_exec_form_so_sigterm_reaches_python(dockerfile):
    assert only(dockerfile, "CMD").exec_form() == RUN_COMMAND
    assert not [i for i in dockerfile if i.keyword == "ENTRYPOINT"], "an ENTRYPOINT would wrap the CMD"
    assert only(dockerfile, "STOPSIGNAL").args == "SIGTERM"
    assert image_env(dockerfile)["PYTHONUNBUFFERED"] == "1"


def test_runs_as_a_non_root_user(dockerfile):
    cmd_at = index_of(dockerfile, lambda i: i.keyword == "CMD")
    users = [i.args for i in dockerfile[:cmd_at] if i.keyword == "USER"]
    assert users, "no USER before CMD: the process would run as root"
    user, _, group = users[-1].partition(":")
    assert user not in ("root", "0")
    assert group not in ("root", "0")


def test_logs_is_a_volume_owned_by_the_runtime_user(dockerfile):
    logs = str(workdir(dockerfile) / "logs")
    volume = only(dockerfile, "VOLUME")
    assert logs in volume.exec_form()
    user = [i.args for i in dockerfile if i.keyword == "USER"][-1]
    volume_at = dockerfile.index(volume)
    # Ownership set after VOLUME would be thrown away, so the chown must come before it.
    assert any(i.keyword == "RUN" and f"chown {user} {logs}" in i.args for i in dockerfile[:volume_at])


def test_pinned_runtime_requirements_are_installed_before_the_code_is_copied(dockerfile):
    copy_reqs = index_of(dockerfile, lambda i: i.keyword == "COPY" and "requirements.txt" in i.args)
    pip_install = re.compile(r"pip install .*-r requirements\.txt")
    install = index_of(dockerfile, lambda i: i.keyword == "RUN" and pip_install.search(i.args))
    copy_code = index_of(dockerfile, lambda i: i.keyword == "COPY" and "src" in i.args)
    assert copy_reqs < install < copy_code
    assert not any("requirements-dev" in i.args for i in dockerfile), "test tools do not belong in the image"
    for line in (REPO / "requirements.txt").read_text(encoding="utf-8").splitlines():
        requirement = line.split("#", 1)[0].strip()
        if requirement:
            assert re.fullmatch(r"[A-Za-z0-9._-]+==[A-Za-z0-9.]+", requirement), f"not pinned: {requirement}"


def test_every_copied_path_exists_and_is_in_the_build_context(dockerfile, dockerignore):
    sources = copy_sources(dockerfile)
    assert {s.rstrip("/") for s in sources} >= {"main.py", "requirements.txt", "src", "config"}
    for source in sources:
        path = REPO / source
        assert path.exists(), f"COPY {source}: no such path in the repository"
        files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
        shipped = [f for f in files
                   if not dockerignore_excludes(dockerignore, f.relative_to(REPO).as_posix())]
        assert shipped, f"COPY {source}: .dockerignore leaves all of it out of the build context"
    assert not dockerignore_excludes(dockerignore, "src/ds_monitor/cli.py")
    assert not dockerignore_excludes(dockerignore, "config/config.yaml")


@pytest.mark.parametrize(
    "path", [".env", ".git/HEAD", "logs/recovery_state.json", "tests/deploy/test_container_recipe.py",
             ".venv/bin/python", "src/ds_monitor/__pycache__/cli.cpython-311.pyc", "requirements-dev.txt"],
    ids=str,
)
def test_secrets_state_and_dev_files_stay_out_of_the_build_context(dockerignore, path):
    assert dockerignore_excludes(dockerignore, path)


def test_image_environment_turns_the_endpoint_on_for_the_exposed_port(dockerfile):
    env = image_env(dockerfile)
    assert only(dockerfile, "EXPOSE").args == env["DS_MONITOR__HTTP_PORT"]
    # The real loader, on the config file the image ships: the variables must name real keys.
    loaded = load_config(str(REPO / "config" / "config.yaml"), environ=env, dotenv_path=None)
    assert loaded.config.monitor.http_port == int(env["DS_MONITOR__HTTP_PORT"])
    assert loaded.config.monitor.http_host == "0.0.0.0"


def healthcheck_command(dockerfile) -> list[str]:
    args = only(dockerfile, "HEALTHCHECK").args
    _options, _, command = args.partition("CMD ")
    argv = json.loads(command)
    assert argv[0] == "python"
    return [sys.executable, *argv[1:]]


@pytest.mark.parametrize(
    ("seconds_since_start", "server_up", "healthy"),
    [
        pytest.param(10, True, True, id="loop-ticking"),
        pytest.param(10_000, True, False, id="loop-stuck-503"),
        pytest.param(10, False, False, id="nothing-listening"),
    ],
)
def test_healthcheck_command_judges_a_real_health_server(dockerfile, seconds_since_start, server_up, healthy):
    start = datetime(2026, 3, 1, tzinfo=timezone.utc)
    server = HealthServer("127.0.0.1", 0, health=Health(check_interval=60, started_at=start),
                          metrics=MonitorMetrics(), status=dict,
                          clock=lambda: start + timedelta(seconds=seconds_since_start))
    server.start()
    port = server.port
    if not server_up:
        server.stop()
    try:
        result = subprocess.run(healthcheck_command(dockerfile), env={"DS_MONITOR__HTTP_PORT": str(port)},
                                capture_output=True, timeout=10, check=False)
    finally:
        server.stop()
    assert (result.returncode == 0) == healthy, result.stderr.decode()
    assert "/healthz" in only(dockerfile, "HEALTHCHECK").args


# --- docker-compose.yaml ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def service(compose) -> dict:
    return compose["services"]["ds-monitor"]


def test_compose_builds_this_directory_and_reads_secrets_from_env_file(service):
    assert service["build"] == "."
    env_files = service["env_file"] if isinstance(service["env_file"], list) else [service["env_file"]]
    assert ".env" in env_files
    assert "environment" not in service or "DS_TOKEN" not in service["environment"]


def test_compose_restarts_and_stops_gracefully(service):
    assert service["restart"] == "unless-stopped"
    grace = re.fullmatch(r"(\d+)s", service["stop_grace_period"])
    assert grace, service["stop_grace_period"]
    # Longer than one DS call may take, so a recovery call in flight is answered before SIGKILL.
    assert int(grace.group(1)) > DolphinSchedulerConfig().timeout_seconds


def test_compose_mounts_logs_and_a_read_only_config(compose, service, dockerfile):
    app = workdir(dockerfile)
    mounts = [volume.split(":") for volume in service["volumes"]]
    logs = [m for m in mounts if m[1] == str(app / "logs")]
    assert logs, "logs/ is not on a volume"
    source = logs[0][0]
    if not source.startswith((".", "/")):
        assert source in (compose.get("volumes") or {}), f"named volume {source} is not declared"
    assert ["./config", str(app / "config"), "ro"] in mounts


def test_compose_publishes_the_endpoint_on_localhost_only(service, dockerfile):
    port = only(dockerfile, "EXPOSE").args
    assert service["ports"] == [f"127.0.0.1:{port}:{port}"]


def test_compose_shows_how_to_reach_a_ds_on_the_docker_host(service):
    assert "dolphinscheduler:host-gateway" in service["extra_hosts"]
