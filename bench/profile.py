"""Where this proxy's time goes under the benchmark's load: py-spy, sampled outside the measured rounds.

``python -m bench --profile DIR`` runs, after a scenario's rounds, one extra load run against this proxy while
py-spy samples it (``--nonblocking``, so the process is never paused), writes the collapsed stacks to
``DIR/<scenario>.txt`` (open them with speedscope or flamegraph.pl) and adds to the report the functions with
the most samples on top of the stack (self, holding the GIL) and the share of samples per source file anywhere on the stack
(inclusive). py-spy is a PyPI package (``pip install py-spy``); without it the option says so and does nothing.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

_VENV_PY_SPY = Path(sys.executable).parent / "py-spy"
PY_SPY = shutil.which("py-spy") or (str(_VENV_PY_SPY) if _VENV_PY_SPY.exists() else None)


# the common root of every stack (how the process started, the event loop): not informative
ROOT_FILES = frozenset({"<frozen runpy>", "proxy/__main__.py", "proxy/cli.py", "stdlib runners.py", "uvloop"})


def start(pid: int, seconds: float, output: Path) -> subprocess.Popen[bytes]:
    """py-spy recording ``pid`` for ``seconds`` into ``output`` (collapsed stacks), in the background."""
    assert PY_SPY is not None
    argv = [PY_SPY, "record", "--pid", str(pid), "--duration", str(max(1, round(seconds))), "--rate", "200"]
    # --gil: only samples holding the GIL, so time the event loop spends waiting in epoll is not counted
    argv += ["--format", "raw", "--nonblocking", "--gil", "--full-filenames", "--output", str(output)]
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _frame_file(frame: str) -> str:
    """A short name for the source file of a py-spy raw frame ``"function (path/to/file.py:line)"``."""
    if "(" not in frame:
        return frame
    path = frame.rsplit("(", 1)[1].rstrip(")").rsplit(":", 1)[0]
    for package in ("/proxy/", "/translators/"):
        if package in path:
            return package.strip("/") + "/" + path.split(package, 1)[1]
    if "/site-packages/" in path:
        return path.split("/site-packages/", 1)[1].split("/")[0]  # the third-party package
    if "/lib/python" in path:
        return "stdlib " + path.rsplit("/", 1)[-1]
    return path.rsplit("/", 1)[-1]


def summarise(path: Path, top: int = 12) -> dict[str, Any]:
    """Self samples per function and inclusive samples per source file from a collapsed-stack file."""
    own: Counter[str] = Counter()
    files: Counter[str] = Counter()
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = stack.split(";")
        own[frames[-1].split(" (")[0] + " (" + _frame_file(frames[-1]) + ")"] += n
        for name in {_frame_file(f) for f in frames}:
            files[name] += n
    return {
        "samples": total,
        "self": [(name, n / total) for name, n in own.most_common(top)] if total else [],
        "files": [(name, n / total) for name, n in files.most_common() if name not in ROOT_FILES][:top]
        if total
        else [],
    }


def render(profiles: dict[str, dict[str, Any]]) -> str:
    lines = []
    for key, profile in profiles.items():
        lines += [f"### {key} ({profile['samples']} samples)", "", "| self (top of stack) | share |", "|---|---|"]
        lines += [f"| `{name}` | {share:.1%} |" for name, share in profile["self"]]
        lines += ["", "| source file (anywhere on the stack) | share |", "|---|---|"]
        lines += [f"| `{name}` | {share:.1%} |" for name, share in profile["files"]]
        lines.append("")
    return "\n".join(lines)
