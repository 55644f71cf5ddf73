"""Runs balena-sdk (Python) calls in the SDK's own virtual environment and prints the results as JSON.

Usage: python py_driver.py '<json>' with {"token": ..., "calls": [["models.device.get_status", [args...]], ...]}.
The settings file pointing the SDK at the proxy is written by the test (BALENA_SETTINGS_HOME_DIRECTORY).
One result per call: {"ok": <return value>} or {"error": <exception class>, "message": <text>}.
"""

import json
import sys

from balena import Balena


def main() -> None:
    spec = json.loads(sys.argv[1])
    sdk = Balena()
    sdk.auth.login_with_token(spec["token"])
    results = []
    for path, args in spec["calls"]:
        target = sdk
        for part in path.split("."):
            target = getattr(target, part)
        try:
            value = target(*args)
            if isinstance(value, bytes):
                value = value.decode("utf-8", "replace")
            results.append({"ok": value})
        except Exception as exc:  # the test asserts on what the SDK raised
            results.append({"error": type(exc).__name__, "message": str(exc)})
    sys.stdout.write(json.dumps(results, default=str))


if __name__ == "__main__":
    main()
