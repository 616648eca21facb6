"""Data Docs that answer "why": GX renders its pages, then this module adds what only vanbulk knows.

GX's pages show which expectation failed and how often, never which rows or values (those are in
``van_preflight_rejects``), mark a mapping type that was sent minus its rejected rows with the same red cross
as one that was blocked, never say that a mapping type was blocked (VAN permission, drift, policy...), and
load bootstrap, jQuery, vega and fonts from CDNs (offline, the index is an empty list). After each checkpoint
this module rewrites this run's pages:

* each validation page gets a "vanbulk pre-flight" section: the verdict (sent / rows rejected, the rest
  sent / blocked, with the reasons), the failing rows (row key, rule, column, value, message; at most
  ``ROW_LIMIT`` per table) from ``van_preflight_rejects`` and ``van_preflight_warnings`` with the query that
  lists all of them, and every rule's SQL and GX counts with its evidence class and severity (a "warn" rule is a
  warning);
* the index gets a static table of this run's mapping types and their verdicts, linking to the pages;
* every ``<script>``, stylesheet and image from another host is removed (GX's own layout scripts with
  them), so opening the pages makes no request outside the machine; a small inline stylesheet replaces them.
"""

from __future__ import annotations

import html
import logging
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa

from connector.preflight.sql import text_lit

if TYPE_CHECKING:
    from connector.preflight.report import MappingTypeResult, PreflightReport
    from connector.warehouse import Warehouse

log = logging.getLogger(__name__)

ROW_LIMIT = 50  # failing rows shown per table on a page; the query shown lists all of them
MARK = "vanbulk-preflight"  # id of the injected section (one per page; re-annotating replaces it)

__all__ = ["ROW_LIMIT", "annotate_data_docs", "strip_remote", "verdict"]

_REMOTE = r"""(?:https?:)?//"""
_PATTERNS = [
    re.compile(rf"""<script\b[^>]*\bsrc\s*=\s*["']{_REMOTE}[^"']*["'][^>]*>\s*</script>""", re.I | re.S),
    re.compile(rf"""<link\b[^>]*\bhref\s*=\s*["']{_REMOTE}[^"']*["'][^>]*>""", re.I | re.S),
    re.compile(rf"""<img\b[^>]*\bsrc\s*=\s*["']{_REMOTE}[^"']*["'][^>]*>""", re.I | re.S),
    re.compile(rf"""<iframe\b[^>]*\bsrc\s*=\s*["']{_REMOTE}[^"']*["'][^>]*>.*?</iframe>""", re.I | re.S),
]

_STYLE = """<style id="vanbulk-style">
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:1rem 2rem;color:#1d232a}
table{border-collapse:collapse;margin:.5rem 0 1rem}th,td{border:1px solid #c9ced6;padding:.25rem .5rem;
text-align:left;vertical-align:top;font-size:.9rem}th{background:#eef1f5}code{background:#f3f4f6;padding:0 .2rem}
.vanbulk{border:2px solid #55616f;border-radius:6px;padding:.5rem 1rem;margin:0 0 1.5rem;background:#fbfcfd;
overflow-x:auto}.vanbulk td{overflow-wrap:anywhere;max-width:36rem}.vb-value{max-width:20rem}
.vb-state{font-weight:600;padding:.35rem .6rem;border-radius:4px;display:inline-block}
.vb-dry{background:#dde7f7}.vb-ok{background:#d9f2df}.vb-rejected{background:#fff1c2}.vb-blocked{background:#f8d3d3}.vb-warn{background:#fde8c8}
</style>"""


def strip_remote(page: str) -> str:
    """The page without anything that would be fetched from another host."""
    for pat in _PATTERNS:
        page = pat.sub("", page)
    return page


def verdict(res: MappingTypeResult) -> tuple[str, str]:
    """(css class, sentence) saying what happened to the mapping type's rows."""
    if res.blocked:
        return "vb-blocked", (f"Blocked: nothing sent; all {res.rows_checked} row(s) recorded as rejected. "
                              "Reason: " + "; ".join(res.block_reasons or ["blocked by pre-flight"]))
    if res.rows_rejected:
        return "vb-rejected", (f"Rows rejected, the rest sent: {res.rows_rejected} of {res.rows_checked} row(s) "
                               f"rejected (not sent), {res.rows_passing} pass")
    return "vb-ok", f"All {res.rows_checked} row(s) pass"


def _carried(res: MappingTypeResult) -> str:
    carried = getattr(res, "checked_in", "") or getattr(res, "carried_from", "")
    return f" (rows and rules unchanged since their check in run {carried[:8]}: its check carried over)" if carried else ""


def _e(value) -> str:
    return "" if value is None else html.escape(str(value))


def _rows(conn, relation: str, run_id: str, names: list[str]) -> dict[str, tuple[int, list]]:
    """Every page's first ``ROW_LIMIT`` rows of ``relation`` and its total, per mapping type, in one statement for
    the whole run (it was two per page: 42 statements in a demo run, each a billed query on a cloud warehouse)."""
    if not names:
        return {}
    found = conn.execute(sa.text(
        "select mapping_type, total, source_row_key, rule, column_name, value, message from ("
        "select mapping_type, source_row_key, rule, column_name, value, message, "
        "count(*) over (partition by mapping_type) as total, row_number() over (partition by mapping_type "
        "order by rule, column_name, source_row_key) as rn "
        f"from {relation} where run_id = {text_lit(run_id)} and mapping_type in "
        f"({', '.join(text_lit(n) for n in names)})) f where rn <= {ROW_LIMIT} "
        "order by mapping_type, rn")).fetchall()
    out: dict[str, tuple[int, list]] = {n: (0, []) for n in names}
    for mt, total, *row in found:
        out[mt] = (int(total), out[mt][1] + [tuple(row)])
    return out


def _row_table(title: str, relation: str, run_id: str, mt: str, total: int, rows: list, css: str) -> str:
    query = f"select * from {relation} where run_id = '{run_id}' and mapping_type = '{mt}'"
    shown = f"the first {len(rows)} of {total}" if total > len(rows) else f"all {total}"
    head = (f'<h3>{_e(title)}: {total}</h3><p>Listed in <code>{_e(relation)}</code> ({shown} shown here): '
            f'<code>{_e(query)}</code></p>')
    if not rows:
        return head
    body = "".join(
        f"<tr class=\"{css}\"><td class=\"vb-key\">{_e(k)}</td><td>{_e(r)}</td><td>{_e(c)}</td>"
        f"<td class=\"vb-value\">{_e(v)}</td><td>{_e(m)}</td></tr>" for k, r, c, v, m in rows)
    return (head + '<table class="vb-rows"><tr><th>row key (source_row_key)</th><th>rule</th><th>column</th>'
            f"<th>value</th><th>message</th></tr>{body}</table>")


def _rules_table(res: MappingTypeResult) -> str:
    if not res.outcomes:
        return ""
    lines = []
    for o in res.outcomes:
        if o.gx_success is None:
            gx = "not in the suite" if not o.in_suite else "-"
        elif o.gx_success:
            gx = "pass"
        else:
            gx = "warning" if o.severity == "warn" else "fail"
        lines.append(f"<tr><td>{_e(o.key)}</td><td>{_e(getattr(o, 'evidence_class', '') or '-')}</td>"
                     f"<td>{'warning (rows still sent)' if o.severity == 'warn' else 'reject'}"
                     f"</td><td>{_e('not run' if o.rows is None else o.rows)}</td>"
                     f"<td>{_e(o.gx_unexpected if o.gx_unexpected is not None else '-')}</td><td>{gx}</td></tr>")
    return ("<details><summary>Every rule: rows found by SQL and by GX</summary><table><tr><th>rule</th><th>evidence class"
            "</th><th>severity</th><th>rows (SQL)</th><th>unexpected rows (GX)</th><th>GX verdict</th></tr>" + "".join(lines)
            + "</table></details>")


def _section(report: PreflightReport, res: MappingTypeResult, rejects: tuple[int, list],
             warnings: tuple[int, list]) -> str:
    css, sentence = verdict(res)
    parts = [(f'<section id="{MARK}" class="vanbulk"><h2>vanbulk pre-flight: {_e(res.mapping_type)}'
              f'{" (dry run)" if report.dry_run else ""}</h2>'), _dry_run_note(report),
             f'<p class="vb-state {css}" id="vb-verdict">{_e(sentence)}</p>',
             f"<p>Run <code>{_e(report.run_id)}</code>, view <code>{_e(res.relation)}</code>: {res.rows_checked} "
             f"row(s) checked, {res.rows_rejected} rejected, {res.rows_warned} with warnings (still sent).</p>"]
    if res.blocked:
        parts.append("<h3>Why it is blocked</h3><ul>" + "".join(
            f"<li>{_e(r)}</li>" for r in res.block_reasons) + "</ul>")
    parts.append(_row_table("Rejected rows (not sent)", report.rejects_relation, report.run_id, res.mapping_type,
                            *rejects, "vb-rejected"))
    if warnings[0] or res.rules_warned:
        parts.append(_row_table("Warnings (rows still sent)", report.warnings_relation, report.run_id,
                                res.mapping_type, *warnings, "vb-warn"))
    parts.append(_rules_table(res))
    batch = (f" GX evaluated each rule's own query over <code>{_e(res.gx_batch)}</code>: the rows of the view "
             "that the one SQL pass found failing some rule (its row count below is theirs, not the view's); its "
             "count per rule must equal the rows SQL wrote, or the mapping type is blocked." if res.gx_batch else "")
    parts.append("<p>Below: Great Expectations' own report of the same checks (an expectation of severity "
                 f"warning that failed is a warning: its rows were sent).{batch}</p></section>")
    return "".join(parts)


def _dry_run_note(report: PreflightReport) -> str:
    if not getattr(report, "dry_run", False):
        return ""
    return ('<p class="vb-state vb-dry" id="vb-dry-run">DRY RUN: nothing was sent. These pages are the plan of '
            "<code>vanbulk run --dry-run</code> (a site of their own); the last real run's pages are in "
            "<code>local_site</code> beside this one.</p>")


def _inject(page: str, block: str) -> str:
    page = re.sub(rf'<section id="{MARK}".*?</section>', "", page, flags=re.S)
    page = strip_remote(page)
    if 'id="vanbulk-style"' not in page:
        page = re.sub(r"</head>", _STYLE + "</head>", page, count=1, flags=re.I)
    m = re.search(r"<body[^>]*>", page, flags=re.I)
    return page[:m.end()] + block + page[m.end():] if m else block + page


def _index_block(report: PreflightReport, pages: dict[str, str], index: Path) -> str:
    rows = []
    for name, res in report.results.items():
        css, sentence = verdict(res)
        page = pages.get(name)
        link = (f'<a href="{_e(os.path.relpath(page, index.parent))}">{_e(name)}</a>' if page else _e(name))
        rows.append(f'<tr class="{css}" data-mapping-type="{_e(name)}"><td>{link}</td><td class="vb-verdict">'
                    f"{_e(sentence + _carried(res))}</td><td>{res.rows_checked}</td><td>{res.rows_rejected}</td>"
                    f"<td>{res.rows_warned}</td></tr>")
    return (f'<section id="{MARK}" class="vanbulk"><h2>vanbulk pre-flight run {_e(report.run_id)}'
            f'{" (dry run)" if report.dry_run else ""}</h2>{_dry_run_note(report)}'
            f"<p>Rejected rows: <code>{_e(report.rejects_relation)}</code>; warnings (rows still sent): "
            f"<code>{_e(report.warnings_relation)}</code>.</p><table id=\"vb-index\"><tr><th>mapping type</th>"
            "<th>verdict</th><th>rows checked</th><th>rejected</th><th>with warnings</th></tr>"
            + "".join(rows) + "</table></section>")


def annotate_data_docs(warehouse: Warehouse, report: PreflightReport, pages: dict[str, str],
                       index_pages: dict[str, str] | None = None) -> None:
    """Add the vanbulk sections to this run's validation pages (``pages``: mapping type -> file) and index, whose
    links go to ``index_pages`` (default ``pages``; a view whose check was carried over links to the page of the
    run that checked it)."""
    if not report.data_docs_path:
        return
    names = [n for n in pages if report.results.get(n) is not None]
    found = {}
    if names:
        with warehouse.connect() as conn:
            rejected = _rows(conn, report.rejects_relation, report.run_id, names)
            warned = _rows(conn, report.warnings_relation, report.run_id, names)
        found = {n: (rejected[n], warned[n]) for n in names}
    for name, (rejects, warnings) in found.items():
        path = Path(pages[name])
        if path.exists():
            block = _section(report, report.results[name], rejects, warnings)
            path.write_text(_inject(path.read_text(encoding="utf-8"), block), encoding="utf-8")
    index = Path(report.data_docs_path)
    if index.exists():
        index.write_text(_inject(index.read_text(encoding="utf-8"),
                                 _index_block(report, pages if index_pages is None else index_pages, index)),
                         encoding="utf-8")
