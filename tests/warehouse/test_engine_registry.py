"""Engines beyond the built-in three are found through the ``vanbulk.engines`` entry point group: adding one
edits no list in connector/ (connector/warehouse/engines/__init__.py)."""

from __future__ import annotations

import importlib.metadata as md
import logging

from connector.warehouse import engines
from connector.warehouse.engines.duckdb import DuckDBEngine


class _PluginEngine(DuckDBEngine):
    name = "plugin_sql"
    dbt_type = "plugin"
    url_schemes = ("plugin",)


def _with_entry_points(monkeypatch, *eps: md.EntryPoint) -> None:
    real = md.entry_points

    def fake(**kw):
        if kw.get("group") == engines.ENTRY_POINT_GROUP:
            return md.EntryPoints(eps)
        return real(**kw)

    monkeypatch.setattr(md, "entry_points", fake)


def test_a_registered_engine_is_found_after_the_built_in_ones(monkeypatch):
    _with_entry_points(monkeypatch, md.EntryPoint("plugin", f"{__name__}:_PluginEngine", engines.ENTRY_POINT_GROUP))
    found = engines.registered_engines()
    assert [e.name for e in found[:3]] == ["duckdb", "postgresql", "bigquery"]
    assert isinstance(found[-1], _PluginEngine)


def test_an_engine_that_does_not_load_is_left_out_loudly(monkeypatch, caplog):
    _with_entry_points(monkeypatch, md.EntryPoint("broken", "no_such_module_xyz:Engine", engines.ENTRY_POINT_GROUP),
                       md.EntryPoint("notanengine", "os:path", engines.ENTRY_POINT_GROUP))
    with caplog.at_level(logging.WARNING):
        found = engines.registered_engines()
    assert [e.name for e in found] == ["duckdb", "postgresql", "bigquery"]
    assert "broken" in caplog.text and "notanengine" in caplog.text


def test_every_installed_engine_is_in_the_registry():
    names = {e.name for e in engines.ENGINES}
    assert {"duckdb", "postgresql", "bigquery"} <= names
    for ep in md.entry_points(group=engines.ENTRY_POINT_GROUP):
        assert any(type(e).__name__ == ep.value.rsplit(":", 1)[1] for e in engines.ENGINES), ep
