"""Data Docs as a person sees them, in a real headless chromium: a demo-like run (one mapping type with a
rejected row, one blocked because the key lacks the permission, one clean), offline and with analytics off.

The index must tell "rows rejected, the rest sent" from "blocked"; a validation page must show the rejected
row's key and value and point to van_preflight_rejects; the blocked page must say why; no page may make a
request to another host (no CDN, no analytics)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

import pytest

from connector.catalog import load_catalog
from connector.preflight import run_preflight

# A VanID that is no VAN record id breaks a confirmed rule (an unknown activist code would only warn offline:
# the packaged code list is demo data, the account's own list decides in a real run).
BAD_KEY, BAD_VALUE = "ac-bad-7", "V-99999917"


@pytest.fixture(scope="module")
def docs(duck_env):
    env, cat = duck_env, load_catalog()
    code = cat.allowed_value_ids("ActivistCode", "ActivistCodeID")[0]
    views = {
        "ActivistCode": [{"source_row_key": "ac-1", "VanID": "100001", "ActivistCodeID": code},
                         {"source_row_key": BAD_KEY, "VanID": BAD_VALUE, "ActivistCodeID": code}],
        "Email": [{"source_row_key": "em-1", "VanID": "100001", "Email": "a@example.org"}],
        "Suppressions": [{"source_row_key": "sup-1", "VanID": "100003", "SuppressionID": "1"}],
    }
    for name, given in views.items():
        cols = cat.get(name).staging_columns
        env.make_view(cat, name, [tuple(g.get(c) for c in cols) for g in given])
    report = run_preflight(env.warehouse, cat, list(views), "run-docs", env.settings,
                           available_mapping_types={"ActivistCode", "Email"})
    assert report.results["Suppressions"].blocked and not report.results["ActivistCode"].blocked
    return report


def _remote(urls: list[str]) -> list[str]:
    return [u for u in urls if urlparse(u).scheme not in ("file", "data", "about", "blob", "chrome-error")
            and urlparse(u).hostname not in ("localhost", "127.0.0.1", "::1")]


def test_index_tells_rejected_from_blocked(docs, chromium_page):
    page, requested = chromium_page(Path(docs.data_docs_path).as_uri())
    assert not _remote(requested), _remote(requested)
    rows = {name: page.locator(f'#vb-index tr[data-mapping-type="{name}"]')
            for name in ("ActivistCode", "Email", "Suppressions")}
    assert all(r.is_visible() for r in rows.values())
    assert "Rows rejected, the rest sent: 1 of 2" in rows["ActivistCode"].inner_text()
    assert rows["Suppressions"].inner_text().count("Blocked: nothing sent") == 1
    assert "not permitted" in rows["Suppressions"].inner_text()
    assert "All 1 row(s) pass" in rows["Email"].inner_text()


def test_validation_page_shows_the_rejected_row_and_where_the_rest_is(docs, chromium_page):
    index, _ = chromium_page(Path(docs.data_docs_path).as_uri())
    index.locator('#vb-index tr[data-mapping-type="ActivistCode"] a').click()  # as a reader would
    index.wait_for_load_state("load")
    assert "ActivistCode" in index.url
    page, requested = chromium_page(index.url)  # reload to record this page's own requests
    assert not _remote(requested), _remote(requested)
    row = page.locator("#vanbulk-preflight tr.vb-rejected", has_text=BAD_KEY)
    assert row.count() == 1 and row.is_visible()
    assert row.locator("td.vb-key").inner_text() == BAD_KEY
    assert row.locator("td.vb-value").inner_text() == BAD_VALUE
    assert "format" in row.inner_text() and "VanID" in row.inner_text()
    text = page.locator("#vanbulk-preflight").inner_text()
    assert "van_preflight_rejects" in text and "select * from" in text
    assert "Rows rejected, the rest sent" in page.locator("#vb-verdict").inner_text()


def test_blocked_page_says_why(docs, chromium_page):
    page, requested = chromium_page(Path(docs.data_docs_pages["Suppressions"]).as_uri())
    assert not _remote(requested), _remote(requested)
    verdict = page.locator("#vb-verdict")
    assert verdict.is_visible() and verdict.inner_text().startswith("Blocked: nothing sent")
    assert "not permitted for the API key" in page.locator("#vanbulk-preflight").inner_text()
    # the row that was not sent is listed too, with the block as its rule
    assert page.locator("#vanbulk-preflight tr.vb-rejected", has_text="sup-1").is_visible()
