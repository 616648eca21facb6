"""``vanbulk simulator serve`` as a user runs it: a real process, keys from options and a config file."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import httpx

KEY = "33333333-3333-4333-8333-333333333333"


def test_serve_command(tmp_path):
    cfg = tmp_path / "sim.yml"
    cfg.write_text("post_status: 201\npending_seconds: 0\nseed_contacts: []\n")
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-c", "from connector.cli import main; main()", "simulator", "serve", "--port", "0", "--state", str(tmp_path / "st"),
         "--api-key", f"my-app:{KEY};perm=Suppressions", "--no-demo-key", "--config", str(cfg)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    try:
        line = ""
        for _ in range(50):
            line = proc.stdout.readline()
            if "VAN simulator:" in line:
                break
        base = re.search(r"(http://\S+/v4/)", line).group(1)
        ok = httpx.get(base + "bulkImportMappingTypes/Suppressions", auth=("my-app", KEY + "|1"))
        assert ok.status_code == 200
        demo = httpx.get(base + "bulkImportJobs/resources",
                         auth=("vanbulk-demo", "00000000-0000-4000-8000-000000000000|1"))
        assert demo.status_code == 401
        r = httpx.post(base + "bulkImportJobs", auth=("my-app", KEY + "|1"), content=json.dumps({}),
                       headers={"Content-Type": "application/json"})
        assert r.status_code == 400
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert (tmp_path / "st" / "simulator.sqlite3").exists()
