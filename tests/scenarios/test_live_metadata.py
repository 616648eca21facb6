"""A run with a key against an account whose metadata differs from the packaged catalogue.

The account (a simulator with a catalogue overlay, marked live) has no ``MiddleName`` on Create Or Update
Contact, requires a new ``EmailSourceID`` on Email, requires ``CanvassedBy`` on Apply Activist Code and has
its own activist-code ids. ``vanbulk run`` reads that metadata before pre-flight: the two drifted types are
blocked with messages naming mapping type and field and nothing of theirs is POSTed (counted in the
simulator's own job table); Apply Activist Code rows are judged by the account's values and requiredness."""

from __future__ import annotations

import functools
import json
from pathlib import Path


from connector.catalog import LIVE_MARKER, load_catalog
from connector.config import SIMULATOR_DEMO_APPLICATION, SIMULATOR_DEMO_KEY
from connector.preflight import run_preflight
from connector.run import run
from connector.simulator import SimulatorConfig, SimulatorServer
from connector.warehouse import Warehouse
from tests.connector.test_accounting import make_view, settings_for
from tests.fixtures.simulator import FAST

CAT = load_catalog()
ACCOUNT_CODE = "5550001"
NO_GX = functools.partial(run_preflight, gx=False)


def write_account(d: Path) -> Path:
    """The account's metadata in the catalogue layout (what `vanbulk catalog refresh` writes)."""
    (d / "mapping_types").mkdir(parents=True)
    contact = CAT.get("CreateOrUpdateContact").to_api()
    contact["fields"] = [f for f in contact["fields"] if f["name"] != "MiddleName"]
    email = CAT.get("Email").to_api()
    email["fields"].append({"name": "EmailSourceID", "description": "How the address was collected",
                            "hasPredefinedValues": False, "isRequired": True, "canBeMappedToColumn": True,
                            "canBeMappedByName": True, "parents": None})
    ac = CAT.get("ActivistCode").to_api()
    for f in ac["fields"]:
        if f["name"] == "CanvassedBy":
            f["isRequired"] = True
    for body in (contact, email, ac):
        (d / "mapping_types" / f"{body['name']}.json").write_text(json.dumps(body))
    for name in ("CreateOrUpdateContact", "Email", "ActivistCode"):
        for f in CAT.get(name).fields:
            env = CAT.values_envelope(name, f.name)
            if env is None:
                continue
            if (name, f.name) == ("ActivistCode", "ActivistCodeID"):
                env = {"items": [{"id": ACCOUNT_CODE, "name": "Account Volunteer"}], "nextPageLink": None, "count": 1}
            (d / "values" / name).mkdir(parents=True, exist_ok=True)
            (d / "values" / name / f"{f.name}.json").write_text(json.dumps(env))
    (d / LIVE_MARKER).write_text("{}")
    return d


def test_run_uses_the_accounts_metadata_and_blocks_drift_before_sending(tmp_path):
    account = write_account(tmp_path / "account")
    config = SimulatorConfig.from_dict({**FAST, "catalog_dirs": [str(account)]})
    packaged_code = CAT.allowed_value_ids("ActivistCode", "ActivistCodeID")[0]
    with SimulatorServer(tmp_path / "sim", config=config) as sim:
        s = settings_for(tmp_path, api_key=SIMULATOR_DEMO_KEY, application_name=SIMULATOR_DEMO_APPLICATION,
                         api_base_url=sim.base_url)
        make_view(s.warehouse_url, "CreateOrUpdateContact",
                  [{"source_row_key": "c-1", "FirstName": "Ada", "LastName": "Lovelace", "Email": "ada@example.org"},
                   {"source_row_key": "c-2", "FirstName": "Mary", "MiddleName": "F", "LastName": "Somerville"}])
        make_view(s.warehouse_url, "Email", [{"source_row_key": "e-1", "VanID": "100001", "Email": "a@example.org"}])
        make_view(s.warehouse_url, "ActivistCode", [
            {"source_row_key": "a-1", "VanID": "100001", "ActivistCodeID": ACCOUNT_CODE, "CanvassedBy": "7"},
            {"source_row_key": "a-2", "VanID": "100002", "ActivistCodeID": packaged_code, "CanvassedBy": "7"},
            {"source_row_key": "a-3", "VanID": "100003", "ActivistCodeID": ACCOUNT_CODE},
        ])
        lines: list[str] = []
        summary = run(s, ["CreateOrUpdateContact", "Email", "ActivistCode"], skip_dbt=True, preflight=NO_GX,
                      echo=lines.append)

        # Nothing of the blocked type (Email) reached VAN; Create Or Update Contact went without MiddleName.
        jobs = sim.store.jobs()
        sent = [m["name"] for j in jobs for a in j["request"]["actions"] for m in a["mappingTypes"]]
        assert sorted(sent) == ["ActivistCode", "CreateOrUpdateContact"]
        contact_job = next(j for j in jobs if j["request"]["actions"][0]["mappingTypes"][0]["name"]
                           == "CreateOrUpdateContact")
        assert "MiddleName" not in [c["name"] for c in contact_job["request"]["file"]["columns"]]
        assert contact_job["rowCount"] == 1
        applied = sim.store.applied("ActivistCode")
        assert [(a["primaryKey"], a["fields"]["ActivistCodeID"]) for a in applied] == [(100001, ACCOUNT_CODE)]

    assert any(line.startswith("live metadata: 3 read from the account") for line in lines), lines
    with Warehouse(s.warehouse_url) as wh:
        rejects = {(r[0], r[1], r[2]): r[3] for r in wh.fetchall(
            "select source_row_key, rule, column_name, message from van_preflight_rejects "
            "where run_id = :r", {"r": summary.run_id})}
        results = wh.fetchall("select source_row_key, row_status from van_bulk_row_results")
    # a column the account lacks: the row that fills it is held back with key, column and reason, the rest sent
    assert [(k, rule, col) for (k, rule, col) in rejects if k.startswith("c-")] == [
        ("c-2", "field_not_in_account", "MiddleName")]
    assert "the account has no field MiddleName" in rejects[("c-2", "field_not_in_account", "MiddleName")]
    left_out = [m for m in summary.messages if "left out of the file" in m]
    assert left_out == [("CreateOrUpdateContact: 1 column(s) the account has no field for left out of the file "
                         "(blank in every row to send): MiddleName")]  # said once
    # a required field the view lacks still blocks, every row recorded with the reason naming type and field
    email = [m for (k, rule, col), m in rejects.items() if k == "e-1"]
    assert email and "Email: the account requires field EmailSourceID" in email[0]
    # Apply Activist Code: the account's code list and its requiredness of CanvassedBy reject (live facts)
    assert ("a-2", "predefined_value", "ActivistCodeID") in rejects
    assert ("a-3", "required", "CanvassedBy") in rejects
    assert sorted(tuple(r) for r in results) == [("a-1", "processed"), ("c-1", "processed")]
    assert summary.status == "blocked"  # types named with -s sent nothing: the run says so (exit 1)


def test_a_second_run_within_the_ttl_reads_the_cache(tmp_path):
    config = SimulatorConfig.from_dict(FAST)
    with SimulatorServer(tmp_path / "sim", config=config) as sim:
        s = settings_for(tmp_path, api_key=SIMULATOR_DEMO_KEY, application_name=SIMULATOR_DEMO_APPLICATION,
                         api_base_url=sim.base_url)
        make_view(s.warehouse_url, "ActivistCode", [
            {"source_row_key": "a-1", "VanID": "100001", "ActivistCodeID": CAT.allowed_value_ids(
                "ActivistCode", "ActivistCodeID")[0]}])
        first: list[str] = []
        run(s, ["ActivistCode"], skip_dbt=True, preflight=NO_GX, echo=first.append)
        second: list[str] = []
        run(s, ["ActivistCode"], skip_dbt=True, preflight=NO_GX, echo=second.append)
        fresh: list[str] = []
        run(s.replace(metadata_ttl_seconds=0), ["ActivistCode"], skip_dbt=True, preflight=NO_GX, echo=fresh.append)
    assert "live metadata: 1 read from the account" in first
    assert "live metadata: 1 from the cache" in second
    assert "live metadata: 1 read from the account" in fresh
    cache = list((tmp_path / ".vanbulk" / "metadata").iterdir())
    assert len(cache) == 1 and (cache[0] / "mapping_types" / "ActivistCode.json").exists()
    # the folder is named by a hash: the key never reaches a file name or the marker
    assert SIMULATOR_DEMO_KEY not in cache[0].name
    assert SIMULATOR_DEMO_KEY not in (cache[0] / LIVE_MARKER).read_text()


def test_contact_upsert_with_name_email_and_zip_is_processed_end_to_end(tmp_path):
    """No street: pre-flight passes (the ZIP's AddressLine1 parent is inferred), VAN's simulator processes the
    rows, and the contacts it stores carry the ZIP."""
    s = settings_for(tmp_path)
    rows = [{"source_row_key": "z-1", "FirstName": "Dorothy", "LastName": "Vaughan",
             "Email": "dorothy@example.org", "ZipOrPostal": "23666"},
            {"source_row_key": "z-2", "FirstName": "Mary", "LastName": "Jackson",
             "Email": "mary@example.org", "ZipOrPostal": "23669"}]
    make_view(s.warehouse_url, "CreateOrUpdateContact", rows)
    summary = run(s, ["CreateOrUpdateContact"], skip_dbt=True, preflight=NO_GX,
                  simulator_config=SimulatorConfig.from_dict(FAST))
    ms = summary.mapping_types["CreateOrUpdateContact"]
    assert (ms.processed, ms.failed) == (2, 0)
    with Warehouse(s.warehouse_url) as wh:
        ids = dict(wh.fetchall("select source_row_key, primary_key from van_bulk_row_results"))
        assert wh.fetchall("select count(*) from van_preflight_rejects")[0][0] == 0
    from connector.simulator.store import Store  # the simulator's own state, not our ledger

    store = Store(tmp_path / ".vanbulk" / "simulator")
    assert {store.contact(int(ids[k]))["ZipOrPostal"] for k in ("z-1", "z-2")} == {"23666", "23669"}


def test_combined_job_needs_a_resource_type_the_account_shares(tmp_path):
    """combined_jobs puts Apply Activist Code in the contacts' job; an account whose Apply Activist Code only
    takes resource ContactsActivistCodes (live resourceTypes) gets the two sent as separate jobs, and says so."""
    account = tmp_path / "account"
    (account / "mapping_types").mkdir(parents=True)
    ac = CAT.get("ActivistCode").to_api()
    ac["resourceTypes"] = ["ContactsActivistCodes"]
    (account / "mapping_types" / "ActivistCode.json").write_text(json.dumps(ac))
    for f in CAT.get("ActivistCode").fields:
        env = CAT.values_envelope("ActivistCode", f.name)
        if env is not None:
            (account / "values" / "ActivistCode").mkdir(parents=True, exist_ok=True)
            (account / "values" / "ActivistCode" / f"{f.name}.json").write_text(json.dumps(env))
    (account / LIVE_MARKER).write_text("{}")
    code = CAT.allowed_value_ids("ActivistCode", "ActivistCodeID")[0]
    config = SimulatorConfig.from_dict({**FAST, "catalog_dirs": [str(account)]})
    with SimulatorServer(tmp_path / "sim", config=config) as sim:
        s = settings_for(tmp_path, api_key=SIMULATOR_DEMO_KEY, application_name=SIMULATOR_DEMO_APPLICATION,
                         api_base_url=sim.base_url,
                         combined_jobs=[{"name": "contacts", "mapping_types": ["CreateOrUpdateContact", "ActivistCode"]}])
        make_view(s.warehouse_url, "CreateOrUpdateContact",
                  [{"source_row_key": "p-1", "FirstName": "Ada", "LastName": "Lovelace", "Email": "ada@example.org"}])
        make_view(s.warehouse_url, "ActivistCode", [{"source_row_key": "p-1", "VanID": "100001", "ActivistCodeID": code}])
        summary = run(s, ["CreateOrUpdateContact", "ActivistCode"], skip_dbt=True, preflight=NO_GX)
        jobs = sim.store.jobs()
    per_job = [[m["name"] for a in j["request"]["actions"] for m in a["mappingTypes"]] for j in jobs]
    assert sorted(per_job) == [["ActivistCode"], ["CreateOrUpdateContact"]]
    assert {a["resourceType"] for j in jobs for a in j["request"]["actions"] if a["mappingTypes"][0]["name"] ==
            "ActivistCode"} == {"ContactsActivistCodes"}
    assert any("ActivistCode shares no resource type with CreateOrUpdateContact" in m for m in summary.messages)


def test_validate_with_a_key_checks_against_the_accounts_metadata(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from connector.cli import main

    account = write_account(tmp_path / "account")
    config = SimulatorConfig.from_dict({**FAST, "catalog_dirs": [str(account)]})
    url = f"duckdb:///{tmp_path}/vanbulk.duckdb"
    make_view(url, "Email", [{"source_row_key": "e-1", "VanID": "100001", "Email": "a@example.org"}])
    with SimulatorServer(tmp_path / "sim", config=config) as sim:
        for k, v in {"VANBULK_PROJECT_DIR": str(tmp_path), "VANBULK_WAREHOUSE_URL": url,
                     "VAN_API_KEY": f"{SIMULATOR_DEMO_KEY}|1", "VAN_APPLICATION_NAME": SIMULATOR_DEMO_APPLICATION,
                     "VAN_API_BASE_URL": sim.base_url}.items():
            monkeypatch.setenv(k, v)
        r = CliRunner().invoke(main, ["validate", "-s", "Email", "--no-gx"], catch_exceptions=False)
        assert sim.store.jobs() == []  # validate never sends
    assert r.exit_code == 1, r.output  # blocked
    assert "live metadata: 1 read from the account" in r.output
    assert "Email: the account requires field EmailSourceID" in r.output


def test_a_row_breaking_an_inferred_rule_is_sent_with_a_warning(tmp_path):
    """A date of birth in another shape VAN may accept (MM/DD/YYYY) breaks only our inferred YYYY-MM-DD convention:
    the row is sent, and the warning is recorded in van_preflight_warnings and counted in the run summary; VAN (the
    simulator's default world) processes it. (An email without a dotted domain is impossible: rejected.)"""
    s = settings_for(tmp_path)
    make_view(s.warehouse_url, "CreateOrUpdateContact", [
        {"source_row_key": "w-1", "FirstName": "Ada", "LastName": "Lovelace", "DOB": "12/10/1815"},
        {"source_row_key": "w-2", "FirstName": "Mary", "LastName": "Jackson", "Email": "mary@example.org"}])
    summary = run(s, ["CreateOrUpdateContact"], skip_dbt=True, preflight=NO_GX,
                  simulator_config=SimulatorConfig.from_dict(FAST))
    ms = summary.mapping_types["CreateOrUpdateContact"]
    assert (ms.rejected, ms.warned, ms.processed) == (0, 1, 2)
    assert "van_preflight_warnings" in summary.render()
    with Warehouse(s.warehouse_url) as wh:
        warned = wh.fetchall("select source_row_key, rule, column_name from van_preflight_warnings where run_id = :r",
                             {"r": summary.run_id})
    assert [tuple(w) for w in warned] == [("w-1", "format", "DOB")]
