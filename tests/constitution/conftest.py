from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

# mlx_lm.server answers with the model it loaded when asked for this name.
SERVED = "default_model"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def mlx_server(tiny_path, tmp_path_factory):
    """A real `mlx_lm.server` on 127.0.0.1 serving the tiny test model; yields its URL."""
    port = free_port()
    log = tmp_path_factory.mktemp("mlx-server") / "server.log"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1"}  # it never looks beyond loopback
    with log.open("w") as out:
        process = subprocess.Popen([sys.executable, "-m", "mlx_lm", "server", "--model", str(tiny_path), "--host",
                                    "127.0.0.1", "--port", str(port), "--decode-concurrency", "4"],
                                   stdout=out, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    body = json.dumps({"model": SERVED, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 1}).encode()
    deadline = time.monotonic() + 120
    while True:
        try:
            urllib.request.urlopen(urllib.request.Request(f"{url}/v1/chat/completions", data=body), timeout=5).read()
            break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise AssertionError(f"mlx_lm.server did not start:\n{log.read_text()[-3000:]}") from None
            time.sleep(0.3)
    yield url
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
