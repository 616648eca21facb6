"""Pre-flight fixtures: one warehouse per engine (DuckDB file, PostgreSQL schemas), shared per module,
because a GX checkpoint run costs a second or two; tests build staging views directly with SQL."""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa

from connector.catalog import load_catalog
from connector.config import Settings
from connector.preflight.sql import ident
from connector.warehouse import Warehouse
from tests.preflight.probe import write_overlay

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

ENGINES = ["duckdb", "postgresql"]


@pytest.fixture(scope="session")
def probe_catalog(tmp_path_factory):
    return load_catalog(extra_dirs=[write_overlay(tmp_path_factory.mktemp("catalog") / "overlay")])


@dataclass
class Env:
    engine: str
    warehouse: Warehouse
    settings: Settings

    def make_view(self, catalog, mapping_type: str, rows: list[tuple], columns: list[str] | None = None) -> str:
        """Table of text columns + the staging view over it (the shape dbt builds)."""
        mt = catalog.get(mapping_type)
        columns = columns or mt.staging_columns
        s = self.settings.staging_schema
        table = self.warehouse.relation(f"src_{mt.staging_view}", s)
        view = self.warehouse.relation(mt.staging_view, s)
        with self.warehouse.begin() as c:
            c.execute(sa.text(f"create schema if not exists {ident(s)}"))
            c.execute(sa.text(f"drop view if exists {view}"))
            c.execute(sa.text(f"drop table if exists {table}"))
            c.execute(sa.text(f"create table {table} ({', '.join(ident(x) + ' varchar' for x in columns)})"))
        self.warehouse.insert_rows(f"src_{mt.staging_view}", columns, rows, schema=s)
        self.warehouse.execute(f"create view {view} as select {', '.join(ident(x) for x in columns)} from {table}")
        return view

    def with_settings(self, **changes) -> Settings:
        return self.settings.replace(**changes)


def _duckdb_env(tmp: Path, filename: str = "wh.duckdb") -> Env:
    url = f"duckdb:///{tmp / filename}"
    return Env("duckdb", Warehouse(url), Settings(project_dir=tmp, warehouse_url=url))


@pytest.fixture(scope="module", params=ENGINES)
def env(request, tmp_path_factory):
    tmp = tmp_path_factory.mktemp(f"pf_{request.param}")
    if request.param == "duckdb":
        yield _duckdb_env(tmp)
        return
    url = request.getfixturevalue("postgres_url")
    tag = uuid.uuid4().hex[:8]
    staging, results = f"pf_{tag}_stg", f"pf_{tag}"
    wh = Warehouse(url)
    settings = Settings(project_dir=tmp, warehouse_url=url, staging_schema=staging, results_schema=results)
    try:
        yield Env("postgresql", wh, settings)
    finally:
        with wh.begin() as c:
            for s in (staging, results):
                c.execute(sa.text(f"drop schema if exists {ident(s)} cascade"))
        wh.engine.dispose()


@pytest.fixture(scope="module")
def duck_env(tmp_path_factory):
    return _duckdb_env(tmp_path_factory.mktemp("pf_duck_only"))


# -- a real headless browser for the pages people read (Data Docs) -------------------------------------------
CHROMIUM = os.environ.get("VANBULK_TEST_CHROMIUM", "/usr/bin/chromium")
_browser_skip: list[str] = []


@pytest.fixture(scope="session")
def chromium_page(tmp_path_factory):
    """A function opening a URL in Debian's headless chromium (driven by playwright, never its own browser
    download) that returns (page, requested URLs). Skips, loudly at the end, when either is missing."""
    if not os.path.exists(CHROMIUM):
        _browser_skip.append(f"{CHROMIUM} not found (apt-get install -y chromium; `make test` does it with CI=true "
                             "as root)")
        pytest.skip(_browser_skip[-1])
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _browser_skip.append("the playwright package is not installed (pip install -e '.[test]')")
        pytest.skip(_browser_skip[-1])
    pw = sync_playwright().start()
    # A fresh profile, and nothing chromium itself would fetch (updates, sync, safe browsing lists).
    ctx = pw.chromium.launch_persistent_context(
        str(tmp_path_factory.mktemp("chromium-profile")), executable_path=CHROMIUM, headless=True,
        args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
              "--disable-sync", "--no-first-run", "--disable-default-apps"])
    requested: list[str] = []
    ctx.on("request", lambda r: requested.append(r.url))
    page = ctx.new_page()

    def open_url(url: str):
        requested.clear()
        page.goto(url, wait_until="load")
        page.wait_for_timeout(300)  # let any script that would fetch something start doing it
        return page, list(requested)

    try:
        yield open_url
    finally:
        ctx.close()
        pw.stop()


def pytest_terminal_summary(terminalreporter):
    if _browser_skip:
        terminalreporter.write_sep("!", "BROWSER TESTS WERE SKIPPED", red=True, bold=True)
        terminalreporter.write_line(_browser_skip[0], red=True)
