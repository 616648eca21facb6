"""One chunk's submission: the row claim before the POST, the content guard, and what each POST failure
leaves in the ledger. A fake VAN client at the edge; a real DuckDB ledger and local file host."""

from __future__ import annotations

import json

import pytest

from connector.config import Settings
from connector.errors import SubmitAmbiguous, VanConnectError, VanServerError, VanValidationError
from connector.export import export_rows
from connector.ledger import PlanRequest, RowOutcome
from connector.payload import JobSpec, MappingSpec
from connector.run import runtime, submit_chunk
from connector.run.submit import Ambiguous, Claimed, Refused, Skipped, Submitted

COLS = ["source_row_key", "VanID", "ActivistCodeID"]
SPEC = JobSpec((MappingSpec("ActivistCode"),))


class FakeClient:
    """Records POSTs; what each call does comes from a list."""

    def __init__(self, outcomes):
        self.outcomes = list(outcomes)
        self.posted = []

    def create_job(self, payload):
        self.posted.append(payload)
        out = self.outcomes.pop(0)
        if isinstance(out, BaseException):
            raise out
        return out

    def close(self):
        pass


def _settings(tmp_path):
    return Settings(project_dir=tmp_path, warehouse_url=f"duckdb:///{tmp_path}/w.duckdb", api_key="k" * 36,
                    api_base_url="https://api.example.test/v4/")


def _planned_chunk(rt, run_id, rows, sub="exp"):
    """The rows as a view, planned for ``run_id`` (as the plan step does), exported as one chunk."""
    wh = rt.warehouse
    wh.execute("drop table if exists ac_v")
    wh.execute(f"create table ac_v ({', '.join(f'{wh.quote(c)} text' for c in COLS)})")
    wh.insert_rows("ac_v", COLS, rows)
    rt.ledger.plan(run_id, PlanRequest("ActivistCode", append=True), "select * from ac_v", "ac_v", COLS)
    [c] = export_rows(rows, COLS, rt.settings.state_dir / sub / run_id, "ac", max_zipped_bytes=10**6,
                      max_rows_per_chunk=1000)
    return c


def _submit(rt, c, run_id, **kw):
    return submit_chunk(rt, SPEC, c, 1, run_id=run_id, resource_type="Contacts", source_relation="v", **kw)


def test_same_content_is_submitted_once_and_force_never_resends_held_rows(tmp_path):
    client = FakeClient([101, 102])
    with runtime(_settings(tmp_path), client=client) as rt:
        c = _planned_chunk(rt, "r1", [("k1", "100001", "4")])
        first = _submit(rt, c, "r1")
        assert isinstance(first, Submitted) and first.job["van_job_id"] == 101
        assert first.job["local_state"] == "submitted" and "?" not in first.job["storage_uri"]
        again = _submit(rt, _planned_chunk(rt, "r2", [("k1", "100001", "4")]), "r2")
        assert isinstance(again, Skipped) and again.job["van_job_id"] == 101 and len(client.posted) == 1
        # --force skips the content guard, but the row is still held by the open job: not POSTed
        forced = _submit(rt, _planned_chunk(rt, "r3", [("k1", "100001", "4")]), "r3", force=True)
        assert isinstance(forced, Claimed) and len(client.posted) == 1
        payload = client.posted[0]
        assert payload["actions"][0]["columnsToIncludeInResultsFile"] == [{"name": "source_row_key"}]
        assert payload["actions"][0]["mappingTypes"][0]["fieldValueMappings"] == [
            {"fieldName": "ActivistCodeID", "columnName": "ActivistCodeID"}]  # VanID is a key column, by name


def test_rows_are_claimed_before_the_post_and_a_crash_leaves_them_ambiguous(tmp_path):
    seen = []

    class CrashAfterPost(FakeClient):
        def create_job(self, payload):
            seen.append((rt.ledger.jobs()[0]["local_state"], [r["outcome"] for r in rt.ledger.row_state()]))
            self.posted.append(payload)
            raise KeyboardInterrupt  # the process dies after VAN got the POST

    client = CrashAfterPost([])
    with runtime(_settings(tmp_path), client=client) as rt:
        c = _planned_chunk(rt, "r1", [("k1", "100001", "4")])
        with pytest.raises(KeyboardInterrupt):
            _submit(rt, c, "r1")
        assert seen == [("submitting", ["pending"])]
        counts = rt.ledger.plan("r2", PlanRequest("ActivistCode", append=True), "select * from ac_v", "ac_v", COLS)
        assert counts == {"ambiguous": 1}  # the next run does not send it
        again = _submit(rt, _planned_chunk(rt, "r3", [("k1", "100001", "4")]), "r3", force=True)
        assert isinstance(again, Claimed) and len(client.posted) == 1


def test_post_failures_are_values_and_leave_the_right_states(tmp_path):
    client = FakeClient([SubmitAmbiguous("timeout"), VanValidationError("bad", 400, [{"code": "X", "text": "t"}]),
                         VanConnectError("cannot connect"), VanServerError("boom", 500), 7])
    with runtime(_settings(tmp_path), client=client) as rt:
        amb = _submit(rt, _planned_chunk(rt, "r", [("k1", "1", "4")], "a"), "r")
        assert isinstance(amb, Ambiguous)
        assert rt.ledger.job(amb.job_key)["local_state"] == "ambiguous"
        refused = _submit(rt, _planned_chunk(rt, "r2", [("k2", "2", "4")], "b"), "r2")
        assert isinstance(refused, Refused)
        job = rt.ledger.job(refused.job_key)
        assert job["local_state"] == "submit_failed" and json.loads(job["errors_json"])[0]["code"] == "X"
        not_reached = _submit(rt, _planned_chunk(rt, "r3", [("k3", "3", "4")], "c"), "r3")
        assert isinstance(not_reached, Refused)  # never reached VAN: nothing created, definite
        # a 500 is not raised: the client turns it into SubmitAmbiguous for a POST; a raw one is a VanError
        server = _submit(rt, _planned_chunk(rt, "r4", [("k4", "4", "4")], "d"), "r4")
        assert isinstance(server, Refused)
        state = {r["source_row_key"]: r["outcome"] for r in rt.ledger.row_state()}
        assert state == {"k1": RowOutcome.AMBIGUOUS, "k2": RowOutcome.REFUSED, "k3": RowOutcome.REFUSED,
                         "k4": RowOutcome.REFUSED}
        # refused rows are retried by the next plan, and the same content may go again
        counts = rt.ledger.plan("r5", PlanRequest("ActivistCode", append=True),
                                "select * from ac_v", "ac_v", COLS)
        assert counts == {"retry": 1, "gone": 3}  # the view now holds only k4; the others left it
        ok = _submit(rt, _planned_chunk(rt, "r5", [("k4", "4", "4")], "e"), "r5")
        assert isinstance(ok, Submitted) and ok.job["van_job_id"] == 7
