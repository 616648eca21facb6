"""PostgreSQL's sessions (connector/warehouse/engines/postgres.py): the ledger's hash joins of a job's rows get the
memory a chunk needs (``work_mem``: at the server default they spilled to temporary files in 4-8 batches;
``temp_buffers`` for the job's keys and result files COPYed into temporary tables), and a value the user gave, in the URL's ``options`` or in ``PGOPTIONS``, wins."""

from __future__ import annotations

import pytest

from connector.warehouse import Warehouse
from connector.warehouse.engines.postgres import TEMP_BUFFERS, WORK_MEM


def test_the_runs_sessions_get_the_memory_a_chunk_needs(postgres_url, monkeypatch):
    monkeypatch.delenv("PGOPTIONS", raising=False)
    with Warehouse(postgres_url) as wh:
        assert (wh.scalar("show work_mem"), wh.scalar("show temp_buffers")) == (WORK_MEM, TEMP_BUFFERS)


@pytest.mark.parametrize("how", ["url", "env"])
def test_a_work_mem_the_user_set_wins_and_other_options_stay(postgres_url, monkeypatch, how):
    options = "-c work_mem=7MB -c statement_timeout=123s -c temp_buffers=9MB"
    if how == "url":
        monkeypatch.delenv("PGOPTIONS", raising=False)
        url = postgres_url + ("&" if "?" in postgres_url else "?") + "options=" + options.replace(" ", "%20").replace(
            "=", "%3D")
    else:
        monkeypatch.setenv("PGOPTIONS", options)
        url = postgres_url
    with Warehouse(url) as wh:
        assert (wh.scalar("show work_mem"), wh.scalar("show statement_timeout"), wh.scalar("show temp_buffers")) == (
            "7MB", "123s", "9MB")


def test_other_options_of_the_url_are_kept_beside_the_work_mem(postgres_url, monkeypatch):
    monkeypatch.delenv("PGOPTIONS", raising=False)
    url = postgres_url + ("&" if "?" in postgres_url else "?") + "options=-c%20statement_timeout%3D45s"
    with Warehouse(url) as wh:
        assert (wh.scalar("show work_mem"), wh.scalar("show statement_timeout")) == (WORK_MEM, "45s")
