"""The run command's two steps, as subprocesses: `flask setup` then `flask serve` answering on a port."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FLASK = [sys.executable, "-m", "flask", "--app", "workflow_app"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_setup_then_serve(tmp_path):
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'served.db'}", "WORKFLOW_SECRET_KEY": "t",
           "WORKFLOW_TIMER_SWEEP_SECONDS": "1", "WORKFLOW_DEMO_SCALE": "0.2"}
    setup = subprocess.run([*FLASK, "setup"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert setup.returncode == 0, setup.stderr
    assert "partnership_escalation: version 1 deployed" in setup.stdout
    port = free_port()
    server = subprocess.Popen([*FLASK, "serve", "--port", str(port)], cwd=ROOT, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=2) as response:
                    assert json.load(response)["status"] == "ok"
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise
                time.sleep(0.2)  # waiting for the server to listen, not timing behaviour
        token = subprocess.run([*FLASK, "users", "token", "sam.patel"], cwd=ROOT, env=env, capture_output=True,
                               text=True, timeout=60, check=True).stdout.strip()

        def get(path: str):
            request = urllib.request.Request(f"http://127.0.0.1:{port}{path}",
                                             headers={"Authorization": f"Bearer {token}"})
            with urllib.request.urlopen(request, timeout=5) as response:
                return json.load(response)

        assert "partnership_escalation" in {p["key"] for p in get("/api/protocols")}
        mine = {(t["case_reference"], t["name"], t["party"]) for t in get("/api/tasks?view=mine")}
        assert ("DEMO-001", "stage1_discussion", "raising") in mine  # the README's escalation, waiting for Sam
        assert all(party == "raising" for _, _, party in mine)  # Sam never holds the other agency's side
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/inbox", timeout=5) as response:
            assert "Sign in" in response.read().decode()  # pages need a signed-in user
    finally:
        server.terminate()
        server.wait(timeout=10)
