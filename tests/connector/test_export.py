"""Export: VAN's CSV format, chunking under the zipped cap and row cap, hashes, bounded streaming."""

from __future__ import annotations

import csv
import io
import zipfile

import pytest

from connector.errors import ExportError
from connector.export import export_query, export_rows
from connector.warehouse import Warehouse

COLS = ["source_row_key", "VanID", "Note"]


def read_chunk(c):
    with zipfile.ZipFile(c.zip_path) as z:
        assert z.namelist() == [c.file_name]
        assert z.getinfo(c.file_name).compress_type == zipfile.ZIP_DEFLATED
        return z.read(c.file_name)


def test_csv_format_header_quote_all_nulls_and_exact_order(tmp_path):
    rows = [("k1", "1", 'a "quoted", value'), ("k2", None, "line\nbreak"), ("k3", "3", "")]
    [c] = export_rows(rows, COLS, tmp_path, "t", max_zipped_bytes=10**6, max_rows_per_chunk=100)
    raw = read_chunk(c)
    assert raw.startswith(b'"source_row_key","VanID","Note"\r\n"k1","1","a ""quoted"", value"\r\n')
    parsed = list(csv.reader(io.StringIO(raw.decode())))
    assert parsed[0] == COLS and parsed[2] == ["k2", "", "line\nbreak"]
    assert c.row_count == 3 and list(c.row_keys()) == ["k1", "k2", "k3"]
    import hashlib
    assert c.sha256 == hashlib.sha256(raw).hexdigest()


def test_same_content_same_hash_and_different_content_different_hash(tmp_path):
    rows = [("k1", "1", "x")]
    a = export_rows(rows, COLS, tmp_path / "a", "t", max_zipped_bytes=10**6, max_rows_per_chunk=10)[0]
    b = export_rows(rows, COLS, tmp_path / "b", "t", max_zipped_bytes=10**6, max_rows_per_chunk=10)[0]
    c = export_rows([("k1", "1", "y")], COLS, tmp_path / "c", "t", max_zipped_bytes=10**6, max_rows_per_chunk=10)[0]
    assert a.sha256 == b.sha256 != c.sha256


def test_chunks_respect_the_zipped_cap_and_cover_every_row_once(tmp_path):
    import random
    r = random.Random(7)
    rows = ((f"k{i:06d}", str(i), "%032x" % r.getrandbits(128)) for i in range(60_000))
    cap = 300_000
    chunks = export_rows(rows, COLS, tmp_path, "t", max_zipped_bytes=cap, max_rows_per_chunk=10**9)
    assert len(chunks) > 3
    assert all(c.zipped_bytes <= cap for c in chunks)
    assert all(c.zipped_bytes > cap * 0.4 for c in chunks[:-1])  # not absurdly small
    keys = [k for c in chunks for k in c.row_keys()]
    assert len(keys) == 60_000 == len(set(keys)) == sum(c.row_count for c in chunks)
    assert [c.chunk_no for c in chunks] == list(range(1, len(chunks) + 1))
    for c in chunks:  # each chunk is a complete CSV with its own header
        lines = read_chunk(c).decode().split("\r\n")
        assert lines[0] == '"source_row_key","VanID","Note"' and len(lines) - 2 == c.row_count


def test_row_cap(tmp_path):
    chunks = export_rows(((f"k{i}", str(i), "x") for i in range(25)), COLS, tmp_path, "t",
                         max_zipped_bytes=10**6, max_rows_per_chunk=10)
    assert [c.row_count for c in chunks] == [10, 10, 5]


def test_limits_enforced(tmp_path):
    with pytest.raises(ExportError, match="50"):
        export_rows([], ["source_row_key"] + [f"c{i}" for i in range(50)], tmp_path, "t",
                    max_zipped_bytes=10**6, max_rows_per_chunk=10)
    with pytest.raises(ExportError, match="source_row_key"):
        export_rows([], ["a"], tmp_path, "t", max_zipped_bytes=10**6, max_rows_per_chunk=10)
    with pytest.raises(ExportError, match="no source_row_key"):
        export_rows([(None, "1", "x")], COLS, tmp_path, "t", max_zipped_bytes=10**6, max_rows_per_chunk=10)
    with pytest.raises(ExportError):
        export_rows([], COLS, tmp_path, "t", max_zipped_bytes=101 * 1024 * 1024, max_rows_per_chunk=10)


def test_no_rows_no_chunks(tmp_path):
    assert export_rows([], COLS, tmp_path, "t", max_zipped_bytes=10**6, max_rows_per_chunk=10) == []


def test_export_query_from_duckdb_orders_by_row_key_and_projects_columns(tmp_path):
    wh = Warehouse(f"duckdb:///{tmp_path}/w.duckdb")
    wh.execute('create table t ("Note" text, "VanID" text, source_row_key text, extra text)')
    wh.insert_rows("t", ["Note", "VanID", "source_row_key", "extra"], [("b", "2", "k2", "z"), ("a", "1", "k1", "z")])
    [c] = export_query(wh, "select * from main.t", COLS, tmp_path / "out", "t", max_zipped_bytes=10**6,
                       max_rows_per_chunk=10, batch_size=1)
    assert read_chunk(c).decode().split("\r\n")[1:3] == ['"k1","1","a"', '"k2","2","b"']


@pytest.mark.postgres
def test_export_query_from_postgres(tmp_path, pg_schema):
    url, schema = pg_schema
    wh = Warehouse(url)
    wh.execute(f'create table "{schema}".t (source_row_key text, "VanID" text, "Note" text)')
    wh.insert_rows("t", COLS, [(f"k{i:03d}", str(i), None) for i in range(250)], schema=schema)
    chunks = export_query(wh, f'select * from "{schema}".t', COLS, tmp_path, "t", max_zipped_bytes=10**6,
                          max_rows_per_chunk=100, batch_size=30)
    assert [c.row_count for c in chunks] == [100, 100, 50]
    wh.dispose()


# -- the engines write the CSV themselves: the bytes must equal Python's csv module's ---------------------

ODD = [("k1", "1", 'a "quoted", value'), ("k2", None, "line\nbreak"), ("k3", "3", ""),
       ("é😀 ünïcode", "4", "x\r\ny"), ("line\nbreak key", "5", '"'), ("carriage\rreturn", None, None),
       ("tab\tinside", "6", "\r"), ('quo"te', "7", '""'), ("k,comma", "8", "trailing\n")]


def _engine_matches_python(wh, rel, tmp_path, **caps):
    """export_query (engine CSV) and export_rows (Python csv) of the same sorted rows: same chunks, bytes, keys."""
    py_rows = [tuple(r) for r in wh.fetchall(f'select source_row_key, "VanID", "Note" from {rel} order by source_row_key')]
    eng = export_query(wh, f"select * from {rel}", COLS, tmp_path / "eng", "t", **caps)
    py = export_rows(py_rows, COLS, tmp_path / "py", "t", **caps)
    assert [c.row_count for c in eng] == [c.row_count for c in py] and sum(c.row_count for c in eng) == len(py_rows)
    for a, b in zip(eng, py):
        assert read_chunk(a) == read_chunk(b) and a.sha256 == b.sha256 and a.csv_bytes == b.csv_bytes
        assert list(a.row_keys()) == list(b.row_keys())
    assert [k for c in eng for k in c.row_keys()] == [r[0] for r in py_rows]  # odd keys round-trip exactly
    return eng


@pytest.mark.parametrize("max_rows", [2, 100])
def test_duckdb_engine_csv_is_byte_equal_to_python_csv(tmp_path, max_rows):
    wh = Warehouse(f"duckdb:///{tmp_path}/w.duckdb")
    wh.execute('create table t (source_row_key text, "VanID" text, "Note" text)')
    wh.insert_rows("t", COLS, ODD)
    chunks = _engine_matches_python(wh, "main.t", tmp_path, max_zipped_bytes=10**6, max_rows_per_chunk=max_rows)
    assert len(chunks) == -(-len(ODD) // max_rows)
    assert not list((tmp_path / "eng").glob(".t-*")), "the work folder (pipe, keys) is removed"


@pytest.mark.postgres
def test_postgres_engine_csv_is_byte_equal_to_python_csv(tmp_path, pg_schema):
    url, schema = pg_schema
    wh = Warehouse(url)
    wh.execute(f'create table "{schema}".t (source_row_key text collate "C", "VanID" text, "Note" text)')
    wh.insert_rows("t", COLS, ODD, schema=schema)
    _engine_matches_python(wh, f'"{schema}".t', tmp_path, max_zipped_bytes=10**6, max_rows_per_chunk=4)
    wh.dispose()


def test_engine_export_fills_chunks_to_the_zipped_cap(tmp_path):
    wh = Warehouse(f"duckdb:///{tmp_path}/w.duckdb")
    wh.execute("create table t as select 'k' || lpad(i::varchar, 6, '0') as source_row_key, i::varchar as \"VanID\", "
               "md5(i::varchar) as \"Note\" from range(60000) r(i)")
    cap = 300_000
    chunks = export_query(wh, "select * from main.t", COLS, tmp_path / "out", "t", max_zipped_bytes=cap,
                          max_rows_per_chunk=10**9)
    assert len(chunks) > 3 and all(c.zipped_bytes <= cap for c in chunks)
    assert all(c.zipped_bytes > cap * 0.98 for c in chunks[:-1])  # the size is known exactly: no margin
    assert all(c.zipped_bytes == c.zip_path.stat().st_size for c in chunks)
    keys = [k for c in chunks for k in c.row_keys()]
    assert keys == [f"k{i:06d}" for i in range(60000)]
    for c in chunks:
        with zipfile.ZipFile(c.zip_path) as z:
            assert z.testzip() is None
        assert len(read_chunk(c).split(b"\r\n")) - 2 == c.row_count


@pytest.mark.parametrize("key", ["null", "''"])
def test_engine_export_refuses_a_row_without_key(tmp_path, key):
    wh = Warehouse(f"duckdb:///{tmp_path}/w.duckdb")
    wh.execute(f"create table t as select 'k1' as source_row_key, '1' as \"VanID\", 'x' as \"Note\" "
               f"union all select {key}, '2', 'y'")
    with pytest.raises(ExportError, match="no source_row_key"):
        export_query(wh, "select * from main.t", COLS, tmp_path / "out", "t", max_zipped_bytes=10**6,
                     max_rows_per_chunk=10)


def test_engine_error_is_raised_not_hung_and_duckdb_settings_are_restored(tmp_path):
    import sqlalchemy as sa

    wh = Warehouse(f"duckdb:///{tmp_path}/w.duckdb")
    wh.execute('create table t (source_row_key text, "VanID" text)')  # no "Note"
    before = wh.fetchall("select current_setting('threads'), current_setting('memory_limit')")
    with pytest.raises(sa.exc.DBAPIError, match="Note"):
        export_query(wh, "select * from main.t", COLS, tmp_path / "out", "t", max_zipped_bytes=10**6,
                     max_rows_per_chunk=10)
    wh.execute('alter table t add column "Note" text')
    wh.insert_rows("t", COLS, [("k1", "1", "x")])
    assert len(export_query(wh, "select * from main.t", COLS, tmp_path / "out", "t", max_zipped_bytes=10**6,
                            max_rows_per_chunk=10)) == 1
    assert wh.fetchall("select current_setting('threads'), current_setting('memory_limit')") == before


def test_duckdb_export_sends_four_statements_and_restores_settings(tmp_path):
    """One read of the settings, one ``set`` batch, the COPY, one restoring batch (issue 20: was 10 per export);
    a setting already at the export's value is neither set nor restored."""
    import sqlalchemy as sa

    wh = Warehouse(f"duckdb:///{tmp_path}/w.duckdb")
    with wh.kept_open():  # one database instance throughout (as in a run): its settings live on
        wh.execute('create table t (source_row_key text, "VanID" text, "Note" text)')
        wh.insert_rows("t", COLS, [("k1", "1", "x"), ("k2", "2", "y")])
        wh.execute("set threads = 1")  # already the export's value: neither set nor restored
        wh.execute("set memory_limit = '1GiB'")  # restored from its text ('1.0 GiB'): a value it shows exactly
        before = wh.fetchall("select current_setting('threads'), current_setting('memory_limit'), "
                             "current_setting('enable_progress_bar')")
        sent: list[str] = []

        def record(conn, cursor, statement, *a):
            sent.append(statement)

        sa.event.listen(wh.engine, "before_cursor_execute", record)
        [c] = export_query(wh, "select * from main.t", COLS, tmp_path / "out", "t", max_zipped_bytes=10**6,
                           max_rows_per_chunk=10)
        sa.event.remove(wh.engine, "before_cursor_execute", record)
        assert c.row_count == 2
        assert len(sent) == 4, sent
        assert "threads" not in sent[1] and "threads" not in sent[3]
        assert "memory_limit" in sent[1] and "memory_limit" in sent[3] and "copy" in sent[2].lower()
        assert wh.fetchall("select current_setting('threads'), current_setting('memory_limit'), "
                           "current_setting('enable_progress_bar')") == before
    wh.dispose()
