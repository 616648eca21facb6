"""On Snowflake every COMMIT and ROLLBACK is a statement (a round trip): a connection that only read since its last
one sends neither, and a transaction that wrote still commits, or rolls back when it fails. Against the emulator
(tests/fixtures/snowflake.py), counting what the client sends."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from connector.warehouse import Warehouse

pytestmark = pytest.mark.snowflake


@pytest.fixture
def sent(monkeypatch):
    import snowflake.connector.cursor as sf_cursor

    statements: list[str] = []
    execute = sf_cursor.SnowflakeCursor.execute

    def recording(self, command, *a, **kw):
        statements.append(" ".join(command.split()).lower())
        return execute(self, command, *a, **kw)

    monkeypatch.setattr(sf_cursor.SnowflakeCursor, "execute", recording)
    return statements


@pytest.fixture
def wh(snowflake_emulator):
    schema = snowflake_emulator.new_schema("tx")
    with Warehouse(snowflake_emulator.url(schema)) as w:
        w.execute("create table kv (k varchar, v varchar)")
        yield w
    snowflake_emulator.drop_schema(schema)


def _ends(statements: list[str]) -> list[str]:
    return [s for s in statements if s in ("commit", "rollback")]


def test_reads_end_nothing(wh, sent):
    for _ in range(3):
        assert wh.scalar("select count(*) from kv") == 0
    with wh.connect() as c:
        c.execute(sa.text("select k from kv")).all()
        c.execute(sa.text("select k from kv union all select v from kv")).all()
    with wh.begin() as c:  # a transaction that only read
        c.execute(sa.text("select count(*) from kv")).scalar()
    assert len(sent) >= 6 and _ends(sent) == [], sent


def test_a_write_commits_and_a_failed_one_rolls_back(wh, sent):
    with wh.begin() as c:
        c.execute(sa.text("select count(*) from kv")).scalar()
        c.execute(sa.text("insert into kv values ('a', '1')"))
    assert _ends(sent) == ["commit"], sent
    with pytest.raises(RuntimeError), wh.begin() as c:
        c.execute(sa.text("insert into kv values ('b', '2')"))
        raise RuntimeError("the caller fails mid-transaction")
    assert _ends(sent) == ["commit", "rollback"], sent
    assert [tuple(r) for r in wh.fetchall("select k, v from kv order by k")] == [("a", "1")]
    # the pooled connection that rolled back reads and ends nothing more
    assert wh.scalar("select count(*) from kv") == 1 and _ends(sent) == ["commit", "rollback"]
