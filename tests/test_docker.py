"""Static checks of the container image recipe (tests/test_docker_image.py builds and runs it for real)."""

from __future__ import annotations

import fnmatch
import json
import re
from pathlib import Path

from proxy.settings import FIELDS, env_var, load_settings

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = (ROOT / "Dockerfile").read_text()


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs with line continuations joined and comments dropped."""
    joined = re.sub(r"\\\n", " ", DOCKERFILE)
    pairs = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            pairs.append((keyword.upper(), rest.strip()))
    return pairs


def final_stage() -> list[tuple[str, str]]:
    steps = instructions()
    last_from = max(i for i, (keyword, _) in enumerate(steps) if keyword == "FROM")
    return steps[last_from:]


def test_slim_python_base_by_default_any_base_by_build_argument():
    [default] = [args for keyword, args in instructions() if keyword == "ARG" and args.startswith("BASE_IMAGE=")]
    assert re.match(r"BASE_IMAGE=python:3\.1[1-9][\w.-]*-slim$", default), default
    for keyword, args in instructions():
        if keyword == "FROM":
            assert args.split()[0] == "${BASE_IMAGE}", args


def test_runs_as_a_non_root_user():
    users = [args for keyword, args in final_stage() if keyword == "USER"]
    assert users and users[-1] not in ("root", "0", "0:0")


def test_image_defaults_sit_below_the_users_settings():
    """No ENV PROXY_<setting> (it would outrank a mounted --config): the defaults file does it, from below."""
    env = " ".join(args for keyword, args in final_stage() if keyword == "ENV")
    assert not [name for name in FIELDS if env_var(name) + "=" in env]
    assert "PROXY_DEFAULTS_FILE=/etc/balena-v6-proxy/defaults.toml" in env
    assert ("COPY", "config/docker-defaults.toml /etc/balena-v6-proxy/defaults.toml") in final_stage()
    defaults = load_settings(env={"PROXY_DEFAULTS_FILE": str(ROOT / "config" / "docker-defaults.toml")})
    assert (defaults.host, defaults.port, defaults.log_format) == ("0.0.0.0", 8080, "json")
    assert defaults.runtime_file and ("EXPOSE", "8080") in final_stage()


def test_healthcheck_is_the_healthcheck_command():
    [healthcheck] = [args for keyword, args in final_stage() if keyword == "HEALTHCHECK"]
    assert json.loads(healthcheck.split("CMD", 1)[1].strip()) == ["balena-v6-proxy", "healthcheck"]


def test_installs_the_package_and_runs_its_console_script():
    steps = instructions()
    runs = " ".join(args for keyword, args in steps if keyword == "RUN")
    assert "pip wheel" in runs and "pip install --no-cache-dir /wheels/*.whl" in runs
    assert ("ENTRYPOINT", '["balena-v6-proxy"]') in steps
    copied = [args.split()[:-1] for keyword, args in steps if keyword == "COPY" and "--from" not in args]
    sources = {source for group in copied for source in group}
    assert {"pyproject.toml", "README.md", "proxy", "translators", "config/docker-defaults.toml"} <= sources
    assert not any(source.startswith("simulator") for source in sources)  # the v7 simulator stays out (issue 11)
    for source in sources:
        assert (ROOT / source).exists(), source


def test_dockerignore_keeps_the_build_context_small_but_complete():
    patterns = [
        p.strip() for p in (ROOT / ".dockerignore").read_text().splitlines() if p.strip() and not p.startswith("#")
    ]
    for excluded in (".git", ".venv", "tests", "node_modules", "simulator", "bench"):
        assert excluded in patterns
    for needed in (
        "pyproject.toml",
        "README.md",
        "proxy/cli.py",
        "proxy/default_settings.toml",
        "translators/__init__.py",
    ):
        assert not any(fnmatch.fnmatch(needed, p) or needed.startswith(p.rstrip("/") + "/") for p in patterns), needed
