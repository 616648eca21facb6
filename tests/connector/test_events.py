"""The event stream and the terminal handler: which records reach the terminal, which only the log file;
the pre-flight stage's progress hook; the run log file's redaction; the simulator's log kept apart."""

from __future__ import annotations

import io
import json
import logging
from types import SimpleNamespace

import pytest

from connector.events import Events, set_live
from connector.logging_setup import run_log, simulator_log
from connector.progress import JsonDisplay, PlainDisplay, TerminalHandler
from connector.run.progress import accepts_progress, run_preflight_stage


class Recorder:
    """A display that keeps what it is handed."""

    def __init__(self):
        self.lines: list[str] = []
        self.updates: list[tuple[str, int, int | None, str]] = []

    def record(self, record):
        self.lines.append(record.getMessage())

    def stage_start(self, stage):
        self.updates.append(("start", stage.done, stage.total, stage.fields.get("detail", "")))

    def stage_update(self, stage):
        self.updates.append((stage.name, stage.done, stage.total, stage.fields.get("detail", "")))

    def stage_end(self, stage):
        self.updates.append(("end", stage.done, stage.total, ""))


@pytest.fixture
def terminal():
    lg = logging.getLogger("connector")
    saved = (lg.level, lg.propagate, list(lg.handlers))
    rec = Recorder()
    handler = TerminalHandler(rec, logging.INFO)
    lg.handlers[:] = [handler]
    lg.setLevel(logging.DEBUG)
    lg.propagate = False
    set_live(rec)
    yield rec, handler
    set_live(None)
    lg.handlers[:] = saved[2]
    lg.setLevel(saved[0])
    lg.propagate = saved[1]


def test_terminal_shows_events_once_and_modules_only_from_warning(terminal):
    rec, handler = terminal
    ev = Events()
    messages: list[str] = []
    ev.emit("dbt_done", "dbt build: 3 node(s) OK in 1.0s")
    ev.debug("job_status", "VAN job 7: InProgress")  # log file only
    ev.note(messages, "X: blocked (reason)")  # printed once, by the summary
    logging.getLogger("connector.export").info("exported 5 rows")  # a module's detail: log file only
    logging.getLogger("connector.van_client").warning("retry 1/3")
    assert rec.lines == ["dbt build: 3 node(s) OK in 1.0s", "retry 1/3"]
    assert messages == ["X: blocked (reason)"]
    handler.threshold = logging.DEBUG  # --log-level DEBUG: everything
    ev.debug("job_status", "VAN job 7: Completed")
    logging.getLogger("connector.export").debug("detail")
    assert rec.lines[-2:] == ["VAN job 7: Completed", "detail"]


def test_echo_of_the_python_api_gets_terminal_lines_only(terminal):
    got: list[str] = []
    ev = Events(got.append)
    ev.say("hello")
    ev.debug("x", "detail")
    ev.note([], "in the summary")
    assert got == ["hello"]


def test_preflight_stage_reports_each_mapping_type_when_preflight_takes_a_progress_hook(terminal):
    rec, _ = terminal
    seen = []

    def preflight(warehouse, catalog, names, run_id, settings, *, progress=None, **kwargs):
        results = {}
        for n, rejected in zip(names, (2, 0, 5)):
            results[n] = SimpleNamespace(rows_rejected=rejected, rows_checked=10, blocked=rejected == 5)
            progress(n, results[n])
            seen.append(n)
        return SimpleNamespace(results=results)

    assert accepts_progress(preflight)
    report = run_preflight_stage(Events(), preflight, None, None, ["A", "B", "C"], "r1", None)
    assert seen == ["A", "B", "C"] and len(report.results) == 3
    updates = [u for u in rec.updates if u[0] == "preflight"]
    assert [(u[1], u[2]) for u in updates] == [(1, 3), (2, 3), (3, 3)]
    assert "rejects so far 2 · A" in updates[0][3] and "rejects so far 7" in updates[2][3]
    assert rec.lines == [next(ln for ln in rec.lines if ln.startswith("pre-flight: 3 mapping type(s) in "))]
    assert rec.lines[0].endswith("7 row(s) rejected, 1 mapping type(s) blocked")


def test_preflight_bar_is_not_full_while_great_expectations_and_data_docs_still_run(terminal):
    """After the last mapping type's SQL checks, GX and Data Docs take seconds: the bar says so and is not at
    N/N (a full bar stops its clock), until pre-flight returns."""
    rec, _ = terminal
    during: dict[str, tuple] = {}

    def preflight(warehouse, catalog, names, run_id, settings, *, progress=None, on_phase=None, **kwargs):
        results = {}
        for n in names:
            results[n] = SimpleNamespace(rows_rejected=1, rows_checked=10, blocked=False)
            progress(n, results[n])
        for phase in ("gx", "docs"):
            on_phase(phase, len(names))
            during[phase] = rec.updates[-1]
        on_phase("done", 0)
        return SimpleNamespace(results=results)

    run_preflight_stage(Events(), preflight, None, None, ["A", "B", "C"], "r1", None)
    (_, done, total, detail), (_, done2, total2, detail2) = during["gx"], during["docs"]
    assert done < total and "Great Expectations: validating 3 view(s)" in detail, during
    assert done2 < total2 and "Data Docs" in detail2, during
    updates = [u for u in rec.updates if u[0] == "preflight"]
    assert (updates[-1][1], updates[-1][2]) == (5, 5)  # full only once everything ran


def test_preflight_without_the_hook_is_called_as_before(terminal):
    rec, _ = terminal

    def preflight(warehouse, catalog, names, run_id, settings, available_mapping_types=None, static_values=None):
        return SimpleNamespace(results={n: SimpleNamespace(rows_rejected=1) for n in names})

    assert not accepts_progress(preflight)
    run_preflight_stage(Events(), preflight, None, None, ["A", "B"], "r1", None, static_values={})
    assert rec.updates == [("start", 0, None, "checking 2 mapping type(s)"), ("end", 0, None, "")]
    assert "2 row(s) rejected" in rec.lines[-1]


def test_plain_and_json_displays_print_stage_progress_only_when_it_changed_and_not_too_often():
    from connector.events import Stage

    out = io.StringIO()
    plain = PlainDisplay(out)
    st = Stage("poll", "VAN jobs", total=3)
    plain.stage_start(st)
    plain.every = 0.0
    st.done = 1
    plain.stage_update(st)
    plain.stage_update(st)  # unchanged: no line
    plain.every = 3600.0
    st.done = 2
    plain.stage_update(st)  # changed, but too soon: no line
    assert [ln[10:] for ln in out.getvalue().splitlines()] == ["… VAN jobs 0/3", "… VAN jobs 1/3"]
    js = io.StringIO()
    jd = JsonDisplay(js, invocation_id="inv")
    jd.stage_start(st)
    [line] = js.getvalue().splitlines()
    assert json.loads(line)["event"] == "progress" and json.loads(line)["data"]["done"] == 2


def test_run_log_file_is_debug_and_redacted_and_the_simulator_log_is_apart(tmp_path, terminal):
    rec, _ = terminal
    key = "0f8fad5b-d9cb-469f-a165-70867728950e|1"
    with run_log(tmp_path, "abc123") as path:
        logging.getLogger("connector.van_client").debug("Authorization: Basic dXNlcjpwYXNz key %s", key)
        Events().debug("job_status", "VAN job 7: InProgress", url="https://x/y?X-Amz-Signature=deadbeef")
        with simulator_log(tmp_path) as sim_path:
            logging.getLogger("connector.simulator").info("simulator accepted job 7")
    assert path == tmp_path / "logs" / "abc123.log"
    text = path.read_text()
    assert " DEBUG " in text and "VAN job 7: InProgress" in text
    assert key not in text and "dXNlcjpwYXNz" not in text and "deadbeef" not in text
    assert "simulator accepted job 7" not in text and "simulator accepted job 7" not in rec.lines
    assert "simulator accepted job 7" in sim_path.read_text()
    logging.getLogger("connector.van_client").debug("after the run")
    assert "after the run" not in path.read_text()  # the file is the run's alone


def test_other_libraries_warnings_are_one_line_on_the_terminal_and_whole_in_the_run_log(tmp_path):
    from connector.logging_setup import configure

    saved = {n: (logging.getLogger(n).level, logging.getLogger(n).propagate, list(logging.getLogger(n).handlers))
             for n in ("connector", "httpx", "")}
    out = io.StringIO()
    display = configure("INFO", "text")
    display._stream = out
    try:
        with run_log(tmp_path, "r2") as path:
            try:
                raise OSError("socket closed")
            except OSError:
                logging.getLogger("sqlalchemy.pool.impl.QueuePool").error("Exception closing connection", exc_info=True)
            logging.getLogger("sqlalchemy.engine").info("below WARNING: nowhere")
    finally:
        for n, (level, propagate, handlers) in saved.items():
            lg = logging.getLogger(n)
            lg.setLevel(level)
            lg.propagate = propagate
            lg.handlers[:] = handlers
        set_live(None)
    assert out.getvalue().endswith("  error: Exception closing connection\n") and "Traceback" not in out.getvalue()
    text = path.read_text()
    assert text.count("Exception closing connection") == 1 and "OSError: socket closed" in text
    assert "below WARNING" not in text
