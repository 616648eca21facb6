"""The engine contract (connector/warehouse/engines): what every engine must answer the same way, run on each.

DDL and introspection, the bulk load of a CSV (NULL vs '', quotes, line breaks, non-ASCII), the engine's reading
of a VAN-format CSV, the row hash against a Python oracle, the export's bytes, and the one-writer lock under two
processes racing for it."""

from __future__ import annotations

import hashlib
import multiprocessing as mp
from pathlib import Path

import pytest
import sqlalchemy as sa

from connector.export import export_query
from connector.ledger import row_hash_sql
from connector.ledger.schema import PREFLIGHT_DROPPED, create_table
from connector.ledger.store import _csv_cell
from connector.warehouse import Warehouse

ODD = ["plain", "", None, 'quo"te', "comma, inside", "line\r\nbreak", "É ünïcödé ✓", "  padded  ", "tab\tin"]


def _table(wh, schema, name, columns):
    rel = wh.relation(name, schema)
    with wh.begin() as c:
        c.execute(sa.text(wh.ops.create_table_sql(rel, [(n, t) for n, t in columns])))
    return rel


def _write_csv(path: Path, header, rows) -> Path:
    path.write_text(",".join(header) + "\n" + "".join(",".join(_csv_cell(v) for v in r) + "\n" for r in rows),
                    encoding="utf-8")
    return path


def test_ddl_and_introspection(engine_wh):
    wh, schema = engine_wh
    rel = wh.relation("van_preflight_dropped", schema)
    with wh.begin() as c:
        c.execute(sa.text(wh.ops.create_schema_sql(schema)))
        create_table(c, wh, rel, PREFLIGHT_DROPPED)
        create_table(c, wh, rel, PREFLIGHT_DROPPED)  # idempotent
    assert wh.columns("van_preflight_dropped", schema) == [n for n, _, _ in PREFLIGHT_DROPPED]
    assert wh.relation_exists("van_preflight_dropped", schema)
    assert not wh.relation_exists("no_such_table", schema)
    assert wh.columns("no_such_table", schema) == []


CRUCIBLE_LOAD_GAP = ("crucible's CSV reader splits lines before it reads quotes, so it cannot load a value holding a "
                     "line break, which real BigQuery loads (allowQuotedNewlines) and every VAN-format file may hold: "
                     "that path needs the live test")


def _no_emulated_load(wh) -> None:
    if wh.ops.name == "bigquery":
        pytest.xfail(CRUCIBLE_LOAD_GAP)


def _fill(wh, schema, rel_name, cols, rows) -> None:
    """Rows in with plain INSERTs (every engine, the emulator included): for tests about what is read back."""
    wh.insert_rows(rel_name, cols, rows, schema=schema)


def test_bulk_load_keeps_null_empty_and_odd_text(engine_wh, tmp_path):
    wh, schema = engine_wh
    _no_emulated_load(wh)
    t = wh.ops.text_type
    rel = _table(wh, schema, "loaded", [("k", t), ("v", t)])
    rows = [(f"k{i:02d}", v) for i, v in enumerate(ODD)]
    with wh.begin() as c:
        wh.ops.copy_into(c, rel, ["k", "v"], _write_csv(tmp_path / "rows.csv", ["k", "v"], rows))
    got = sorted(tuple(r) for r in wh.fetchall(f"select k, v from {rel}"))
    assert got == rows


def test_engine_reads_a_van_format_csv(engine_wh, tmp_path):
    """The job's own file (header, every field quoted, CRLF, values with CR/LF) read as text columns c0..: a
    quoted empty field is '', the file carries no NULL."""
    wh, schema = engine_wh
    _no_emulated_load(wh)
    path = tmp_path / "job.csv"
    body = '"source_row_key","Email"\r\n' + "".join(
        f'"k{i:02d}","{("" if v is None else v).replace(chr(34), chr(34) * 2)}"\r\n' for i, v in enumerate(ODD))
    path.write_bytes(body.encode("utf-8"))
    with wh.begin() as c:
        src = wh.ops.csv_relation(c, path, 2, "contract")
        got = sorted(tuple(r) for r in c.execute(sa.text(f"select c0, c1 from {src}")).all())
    assert got == [(f"k{i:02d}", "" if v is None else v) for i, v in enumerate(ODD)]


def _oracle_hash(columns, row) -> str:
    """The row hash (connector/ledger/sync.py) computed in Python: md5 of Name<US>value<RS> per non-NULL value."""
    text = "".join(f"{c}\x1f{v}\x1e" for c, v in zip(columns, row) if v is not None and c != "source_row_key")
    return hashlib.md5(text.encode("utf-8")).hexdigest()


def test_row_hash_equals_the_python_oracle(engine_wh, tmp_path):
    wh, schema = engine_wh
    t = wh.ops.text_type
    cols = ["source_row_key", "VanID", "Email", "Note"]
    rel = _table(wh, schema, "hashed", [(c, t) for c in cols])
    rows = [(f"k{i:02d}", v, w, n) for i, (v, w, n) in enumerate(
        [("1", "a@b.org", None), (None, None, None), ("2", "", "É ✓"), ("3", 'x"y', "line\nbreak")])]
    _fill(wh, schema, "hashed", cols, rows)
    got = dict(wh.fetchall(f"select v.source_row_key, {row_hash_sql(cols, wh.ops, 'v')} from {rel} v"))
    assert got == {r[0]: _oracle_hash(cols, r) for r in rows}


def test_export_bytes_are_the_same_on_every_engine(engine_wh, tmp_path):
    """The zipped CSV VAN gets for the same rows is byte-identical whichever engine holds them (DuckDB and
    PostgreSQL write it with COPY, BigQuery's rows are paged through the client into the connector's writer)."""
    wh, schema = engine_wh
    t = wh.ops.text_type
    cols = ["source_row_key", "Email", "Note"]
    rel = _table(wh, schema, "to_export", [(c, t) for c in cols])
    rows = [(f"k{i:02d}", v, "n") for i, v in enumerate(ODD)]
    _fill(wh, schema, "to_export", cols, rows)
    chunks = export_query(wh, f"select * from {rel}", cols, tmp_path / "out", "contract",
                          max_zipped_bytes=1 << 20, max_rows_per_chunk=1000)
    assert [c.row_count for c in chunks] == [len(rows)]
    expected = b'"source_row_key","Email","Note"\r\n' + b"".join(
        ",".join('"' + ("" if x is None else x).replace('"', '""') + '"' for x in r).encode() + b"\r\n" for r in rows)
    assert chunks[0].csv_path.read_bytes() == expected


def _racer(url: str, schema: str | None, key: int, barrier, results, done) -> None:
    wh = Warehouse(url, schema)
    barrier.wait(timeout=60)
    held, _info = wh.ops.try_lock(wh, key=key, holder={"pid": mp.current_process().pid})
    results.put(held is not None)
    done.wait(timeout=120)
    if held is not None:
        held.release()
    wh.dispose()


def test_writer_lock_is_exclusive_between_two_processes(engine_wh):
    wh, schema = engine_wh
    ctx = mp.get_context("spawn")
    barrier, results, done = ctx.Barrier(2), ctx.Queue(), ctx.Event()
    procs = [ctx.Process(target=_racer, args=(wh.test_url, schema, 4242, barrier, results, done)) for _ in range(2)]
    for p in procs:
        p.start()
    try:
        won = sorted(results.get(timeout=120) for _ in procs)
        assert won == [False, True]  # exactly one of the two racing processes holds it
        held, _ = wh.ops.try_lock(wh, key=4242, holder={"pid": 0})
        assert held is None  # nor does a third while the winner holds it
    finally:
        done.set()
        for p in procs:
            p.join(timeout=120)
    held, _ = wh.ops.try_lock(wh, key=4242, holder={"pid": 0})
    assert held is not None  # released by its holder
    held.release()


def test_a_lease_left_by_a_dead_process_is_taken_over(engine_wh):
    """BigQuery's writer lock is a table holding a lease row renewed while its holder lives: a live holder keeps
    it and is named; one not renewed for LEASE_SECONDS (the process died) is taken over."""
    wh, schema = engine_wh
    if wh.ops.writer_lock != "lease":
        pytest.skip(f"{wh.ops.name} holds its lock with the OS or the server ({wh.ops.writer_lock}), not a lease")
    from connector.warehouse.engines.bigquery import LEASE_SECONDS

    for key, age, holder in ((7, 0, "alive"), (8, LEASE_SECONDS + 60, "dead")):
        rel = wh.relation(wh.ops.lock_table(key), schema)
        wh.execute(f"create table {rel} (holder string, info string, renewed_at timestamp)")
        wh.execute(f"insert into {rel} (holder, info, renewed_at) values ('{holder}', '{{\"pid\": 1}}', "
                   f"timestamp_sub(current_timestamp(), interval {age} second))")
    held, info = wh.ops.try_lock(wh, key=7, holder={"pid": 2})
    assert held is None and info == {"pid": 1}
    held, _ = wh.ops.try_lock(wh, key=8, holder={"pid": 2})
    assert held is not None
    assert wh.ops.try_lock(wh, key=8, holder={"pid": 3})[0] is None  # now ours, renewed
    held.release()
    assert not wh.relation_exists(wh.ops.lock_table(8), schema)


def test_checked_copy_is_what_later_reads_see(engine_wh):
    """connector/preflight/checked.py on each engine: the copy of a view holds the rows as they were when it was
    taken (a later write to the input is not in it), and it goes when released."""
    from connector.preflight.checked import checked_table, release, take

    wh, schema = engine_wh
    t = wh.ops.text_type
    src = _table(wh, schema, "checked_src", [("source_row_key", t), ("v", t)])
    _fill(wh, schema, "checked_src", ["source_row_key", "v"], [("k1", "checked"), ("k2", "checked")])
    view = wh.relation("checked_view", schema)
    with wh.begin() as c:
        c.execute(sa.text(f"create view {view} as select source_row_key, v from {src}"))
    with wh.begin() as c:
        copy, copied = take(c, wh, schema, "0123456789abcdef", "checked_view", view)
    assert copy == wh.relation(checked_table("0123456789abcdef", "checked_view"), schema)
    assert copied == (2 if wh.ops.reports_rows_written else None)  # pre-flight's row count, where the engine says
    wh.execute(f"update {src} set v = 'changed' where source_row_key = 'k1'")
    _fill(wh, schema, "checked_src", ["source_row_key", "v"], [("k3", "late")])
    assert sorted(wh.fetchall(f"select source_row_key, v from {copy}")) == [("k1", "checked"), ("k2", "checked")]
    release(wh, [copy])
    assert not wh.relation_exists(checked_table("0123456789abcdef", "checked_view"), schema)


def test_checked_copies_are_dropped_together(engine_wh):
    """``release`` drops every copy it is given (in one statement where the engine can), a missing one too."""
    from connector.preflight.checked import release

    wh, schema = engine_wh
    t = wh.ops.text_type
    names = ["drop_me_1", "drop_me_2"]
    for n in names:
        _table(wh, schema, n, [("k", t)])
    from tests.helpers.statements import counting_statements

    with counting_statements() as sent:
        release(wh, [wh.relation(n, schema) for n in [*names, "never_made"]])
    assert not any(wh.relation_exists(n, schema) for n in names)
    # one call where the engine drops several tables in one statement (PostgreSQL) or runs a batch of them
    # (DuckDB; BigQuery: a script is one query job); Snowflake one each
    drops = [q for q in sent if q.lower().startswith("drop")]
    assert len(drops) == (3 if wh.ops.name == "snowflake" else 1), sent


def test_rows_written_is_the_count_or_unknown(engine_wh):
    """An engine that says how many rows a CTAS or an ``insert ... select`` wrote says it exactly, 0 included
    (pre-flight skips work on it and counts no dropped rows again); any other says nothing."""
    wh, schema = engine_wh
    t = wh.ops.text_type
    src = _table(wh, schema, "written_src", [("k", t)])
    _fill(wh, schema, "written_src", ["k"], [("a",), ("b",), ("c",)])
    dst = _table(wh, schema, "written_dst", [("k", t)])
    with wh.begin() as c:
        ctas = [c.execute(sa.text(s)) for s in wh.ops.replace_table_as_sql(
            wh.relation("written_ctas", schema), f"select k from {src} where k <> 'a'")][-1]
        counts = [wh.ops.rows_written(ctas),
                  wh.ops.rows_written(c.execute(sa.text(f"insert into {dst} select k from {src}"))),
                  wh.ops.rows_written(c.execute(sa.text(f"insert into {dst} select k from {src} where k = 'z'")))]
    assert counts == ([2, 3, 0] if wh.ops.reports_rows_written else [None, None, None])
    assert wh.ops.reports_rows_written == (wh.ops.name in ("duckdb", "postgresql"))


def test_dml_rows_is_the_count_or_unknown(engine_wh):
    """``dml_rows``: the rows an INSERT, UPDATE or DELETE wrote, 0 included (a ledger transition is then one
    conditional UPDATE, and an insert is not counted again), exact on every engine that says it; None elsewhere."""
    wh, schema = engine_wh
    t = wh.ops.text_type
    src = _table(wh, schema, "dml_src", [("k", t), ("v", t)])
    _fill(wh, schema, "dml_src", ["k", "v"], [("a", "x"), ("b", "x"), ("c", "y")])
    with wh.begin() as c:
        got = [wh.ops.dml_rows(c.execute(sa.text(sql))) for sql in (
            f"insert into {src} (k, v) select k, 'z' from {src} where v = 'x'",
            f"insert into {src} (k, v) select k, v from {src} where v = 'none'",
            f"update {src} set v = 'w' where v = 'x'",
            f"update {src} set v = 'w' where v = 'none'",
            f"delete from {src} where v = 'z'")]
    says = wh.ops.reports_rows_written or wh.ops.dml_rowcount
    assert got == ([2, 0, 2, 0, 2] if says else [None] * 5)
    assert says == (wh.ops.name in ("duckdb", "postgresql", "bigquery", "snowflake"))
    if wh.ops.enforces_unique_keys:
        return
    # Without enforced keys the row claim is one MERGE whose count is the rows claimed (ledger/claim.py): updated
    # plus inserted, 0 when its source is empty.
    with wh.begin() as c:
        merged = [wh.ops.dml_rows(c.execute(sa.text(
            f"merge into {src} t using (select k, v from (select 'a' as k, 'm' as v union all select 'n', 'm' "
            f"union all select 'o', 'm') s where {cond}) s on t.k = s.k when matched then update set v = s.v "
            f"when not matched then insert (k, v) values (s.k, s.v)"))) for cond in ("1 = 1", "1 = 0")]
    assert merged == [3, 0]


def test_content_fingerprint_sees_every_change_and_no_order(engine_wh):
    """``Engine.content_fingerprint_sql`` (pre-flight carries a view's check over while it stays equal): the same
    rows in another order give the same fingerprint; a changed value, NULL for '', a value moved to the next
    column, a duplicated row, a row less each give another."""
    wh, schema = engine_wh
    t = wh.ops.text_type
    cols = ["source_row_key", "a", "b"]
    base = [("k1", "x", "y"), ("k2", None, ""), ("k3", "ab", None)]
    variants = {
        "base": base, "reordered": list(reversed(base)),
        "value": [("k1", "x", "z"), *base[1:]],
        "null for empty": [base[0], ("k2", None, None), base[2]],
        "empty for null": [base[0], ("k2", "", ""), base[2]],
        "moved": [base[0], base[1], ("k3", "a", "b")],
        "shifted": [base[0], base[1], ("k3", None, "ab")],
        "duplicated": [*base, base[0]],
        "one less": base[:2],
    }
    prints = {}
    for i, (name, rows) in enumerate(variants.items()):
        _table(wh, schema, f"fp_{i}", [(c, t) for c in cols])
        _fill(wh, schema, f"fp_{i}", cols, rows)
        sql = wh.ops.content_fingerprint_sql(wh.relation(f"fp_{i}", schema), cols)
        assert sql is not None, f"{wh.ops.name} has no content fingerprint: every view would be checked every run"
        prints[name] = tuple(wh.fetchall(sql)[0])
    assert prints["reordered"] == prints["base"]
    others = {k: v for k, v in prints.items() if k != "reordered"}
    assert len(set(others.values())) == len(others), others


def test_grouped_content_fingerprint_is_each_groups_own(engine_wh):
    """``content_fingerprint_sql(..., group_by=...)`` (the plan's one statement for every mapping type's sync state):
    one row per group, the group's value first, then exactly the fingerprint of that group's rows alone."""
    wh, schema = engine_wh
    t = wh.ops.text_type
    cols = ["grp", "source_row_key", "a"]
    rows = [("A", "k1", "x"), ("B", "k1", "x"), ("A", "k2", None), ("C", "k9", "")]
    _table(wh, schema, "fp_grouped", [(c, t) for c in cols])
    _fill(wh, schema, "fp_grouped", cols, rows)
    rel = wh.relation("fp_grouped", schema)
    grouped = {r[0]: tuple(r[1:]) for r in wh.fetchall(wh.ops.content_fingerprint_sql(rel, cols[1:], group_by="grp"))}
    assert sorted(grouped) == ["A", "B", "C"]
    for g in grouped:
        alone = wh.fetchall(wh.ops.content_fingerprint_sql(f"(select * from {rel} where grp = '{g}')", cols[1:]))[0]
        assert grouped[g] == tuple(alone), g
    assert grouped["A"] != grouped["B"] and grouped["B"][0] == 1


def test_dropped_rows_of_every_view_in_one_insert(engine_wh):
    """``record_dropped_many`` (pre-flight's one statement for every view's dropped rows): each view's rows under its
    own mapping type, the counts per mapping type right whether or not the engine reports rows written."""
    from datetime import datetime

    from connector.preflight.dropped import ensure_table, record_dropped, record_dropped_many

    wh, schema = engine_wh
    t = wh.ops.text_type
    cols = [("source_row_key", t), ("drop_reason", t), ("duplicate_rank", "bigint" if wh.ops.name != "bigquery" else "INT64")]
    models = {}
    for name, rows in (("a", [("k1", "superseded", 2), ("k1", "superseded", 3)]), ("b", [(None, "nothing_to_apply", None)]),
                       ("c", [])):
        models[name] = _table(wh, schema, f"dropped_{name}", cols)
        if rows:
            _fill(wh, schema, f"dropped_{name}", [c for c, _ in cols], rows)
    rel = ensure_table(wh, schema)
    at = datetime(2026, 12, 5, 3, 0)
    with wh.begin() as c:
        got = record_dropped_many(c, wh, schema, "run1", {"A": models["a"], "B": models["b"], "C": models["c"]}, at)
        none = record_dropped_many(c, wh, schema, "run2", {"C": models["c"]}, at)
        one = record_dropped(c, wh, schema, "run3", "A", models["a"], at)
        again = record_dropped(c, wh, schema, "run3", "A", models["a"], at)  # replaced, not doubled
    assert got == {"A": 2, "B": 1, "C": 0} and none == {"C": 0} and one == again == 2
    rows = sorted(tuple(r) for r in wh.fetchall(
        f"select run_id, mapping_type, coalesce(source_row_key, '-'), reason, message from {rel}"))
    assert rows == [("run1", "A", "k1", "superseded",
                     "row 'k1' not sent: a later input row with the same source_row_key is the one sent")] * 2 + [
        ("run1", "B", "-", "nothing_to_apply",
         "row '(no key)' not sent: the row has no value besides its keys, so there is nothing to send")] + [
        ("run3", "A", "k1", "superseded",
         "row 'k1' not sent: a later input row with the same source_row_key is the one sent")] * 2


def test_relations_released_for_later_are_dropped_together_when_the_warehouse_closes(engine_wh):
    """An engine that drops released scratch tables together (BigQuery: one script when the warehouse closes, not a
    statement each) leaves none behind."""
    from connector.warehouse import Warehouse
    from connector.warehouse.engines.base import Engine
    from tests.helpers.statements import counting_statements

    wh, schema = engine_wh
    if type(wh.ops).drop_released is Engine.drop_released:
        pytest.skip(f"{wh.ops.name}: a released scratch table goes at once (or with its transaction), not later")
    other = Warehouse(wh.test_url, schema)  # a warehouse of its own, closed here (the fixture closes its own)
    names = ["vanbulk_released_1", "vanbulk_released_2"]
    for n in names:
        _table(wh, schema, n, [("k", wh.ops.text_type)])
    with counting_statements() as sent:
        with other.begin() as c:
            for n in names:
                other.ops.release_relation(c, other.relation(n, schema))
        assert all(wh.relation_exists(n, schema) for n in names)  # not yet: when the warehouse closes
        other.dispose()
    assert not any(wh.relation_exists(n, schema) for n in names)
    assert len([q for q in sent if q.lower().startswith("drop")]) == 1, sent
