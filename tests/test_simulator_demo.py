"""``balena-v6-proxy demo``: starts the simulator and the proxy, prints curl commands that work when pasted."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import sys

import pytest

pytestmark = pytest.mark.skipif(shutil.which("curl") is None, reason="the printed commands use curl")


async def test_demo_prints_curl_commands_that_work():
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROXY_")}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "proxy",
        "demo",
        "--port",
        "0",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
        env=env,
    )
    try:
        lines: list[str] = []
        async with asyncio.timeout(30):
            while not lines or "Ctrl-C" not in lines[-1]:
                line = (await proc.stdout.readline()).decode()
                assert line, "the demo exited early"
                lines.append(line.rstrip("\n"))
        commands = [line.strip() for line in lines if line.strip().startswith("curl ")]
        assert len(commands) >= 4
        outputs = []
        for command in commands:
            shell = await asyncio.create_subprocess_shell(command, stdout=asyncio.subprocess.PIPE)
            out, _ = await asyncio.wait_for(shell.communicate(), 30)
            assert shell.returncode == 0, command
            outputs.append(out.decode())
        devices = json.loads(outputs[0])["d"]
        assert {d["overall_status"] for d in devices} <= {
            "idle",
            "offline",
            "updating",
            "configuring",
            "inactive",
            "post-provisioning",
        }
        assert json.loads(outputs[1]) == {"d": [{"overall_status": "updating", "should_be_running__release": None}]}
        assert json.loads(outputs[2]) == {"d": [{"id": 1, "app_name": "myapp", "actor": 11}]}
        assert json.loads(outputs[3]) == "OK"
        v7 = json.loads(outputs[4])["d"][0]
        assert v7 == {"overall_status": "reduced-functionality", "is_pinned_on__release": None}
        assert re.search(r"v6 proxy: +http://127\.0\.0\.1:\d+", "\n".join(lines))
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGINT)
        code = await asyncio.wait_for(proc.wait(), 15)
    assert code == 0
