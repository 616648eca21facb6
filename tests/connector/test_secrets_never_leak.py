"""Secrets never reach logs, tables, exceptions or files.

A whole run with a real-looking API key (not the demo one), S3 presigned hosting on moto's server, a
retried 503 and debug logging: afterwards the key, the Basic-auth header value and every presigned URL
signature must be absent from the captured logs, from every text cell of every ledger table, and from
every file the run left behind.
"""

from __future__ import annotations

import base64
import logging
import re
from pathlib import Path

import pytest

from connector.config import Settings
from connector.logging_setup import configure
from connector.run import run
from connector.simulator import SimulatorConfig, SimulatorServer
from connector.simulator.config import ApiKey
from connector.warehouse import Warehouse
from tests.connector.helpers import make_staging, passthrough_preflight

KEY = "7c9e6679-7425-40de-944b-e07fc1f90ae7"
APP = "acmeSync"


def _all_text_cells(url: str) -> str:
    out = []
    with Warehouse(url) as wh:
        tables = wh.fetchall("select table_schema, table_name from information_schema.tables "
                             "where table_schema not in ('information_schema', 'pg_catalog')")
        for schema, table in tables:
            for row in wh.fetchall(f"select * from {wh.relation(table, schema)}"):
                out.extend(str(v) for v in row if v is not None)
    return "\n".join(out)


@pytest.mark.s3
def test_no_secret_in_logs_tables_or_files(tmp_path, s3_bucket, caplog, capfd):
    bucket, options = s3_bucket
    cfg = SimulatorConfig(pending_seconds=0.0, seconds_per_1000_rows=0.0, min_processing_seconds=0.0,
                          api_keys=[ApiKey(KEY, APP)])
    with SimulatorServer(state_dir=tmp_path / "sim", host="127.0.0.1", port=0, config=cfg) as sim:
        # one transient 503 on the first poll, so retry logging runs too
        sim.set_faults({"rules": [{"method": "GET", "path": "/v4/bulkImportJobs/5*", "status": 503, "retry_after": 0.01, "count": 1}]})
        s = Settings(project_dir=tmp_path, warehouse_url=f"duckdb:///{tmp_path}/w.duckdb", api_key=f"{KEY}|1",
                     application_name=APP, api_base_url=sim.base_url, use_simulator=False,
                     hosting=f"s3://{bucket}/vanbulk", poll_interval_seconds=0.05)
        make_staging(s.warehouse_url)
        configure(level="DEBUG", log_format="json")
        logging.getLogger("connector").propagate = True  # let caplog see what the handlers see
        with caplog.at_level(logging.DEBUG):
            summary = run(s, ["ActivistCode", "CreateOrUpdateContact"], skip_dbt=True,
                          preflight=passthrough_preflight, storage_options=options)
        assert summary.mapping_types["ActivistCode"].processed == 3  # the run really happened
        assert repr(s).count(KEY) == 0

    basic = base64.b64encode(f"{APP}:{KEY}|1".encode()).decode()
    out, err = capfd.readouterr()
    # What our handler printed, plus every record of our loggers and of httpx (which logs request URLs);
    # the moto server's and botocore's own debug logs are third-party and out of scope.
    ours = [r.getMessage() for r in caplog.records if r.name.split(".")[0] in ("connector", "httpx")]
    logs = "\n".join([out, err, *ours])
    assert "bulkImportJobs" in logs  # the logs did capture the run
    tables = _all_text_cells(s.warehouse_url)
    files = "\n".join(f"{p}: " + p.read_bytes().decode("utf-8", "replace") for p in Path(tmp_path).rglob("*")
                      if p.is_file() and not p.name.endswith((".duckdb", ".wal"))
                      and "sim" not in p.relative_to(tmp_path).parts)  # the simulator is VAN's side: it knows keys
    for where, text in (("logs", logs), ("tables", tables), ("files", files)):
        assert KEY not in text, f"API key leaked into {where}: ...{text[max(0, text.find(KEY) - 300):text.find(KEY)]}"
        assert basic not in text, f"Authorization header leaked into {where}"
        assert not re.search(r"X-Amz-Signature=[0-9a-f]{16,}", text), f"presigned URL signature leaked into {where}"
        assert not re.search(r"AWSAccessKeyId=\w+&Signature=", text), f"presigned URL signature leaked into {where}"
