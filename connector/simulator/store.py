"""Persistent state: what VAN would hold after each job, in one sqlite file under the state directory.

Generic on purpose: a ``contacts`` table (VanID + merged fields), a ``records`` table for other resources
(contributions, activist codes, ...), and one ``applied`` table holding every mapping row applied
(job, mapping type, primary key, field values as JSON), so tests can assert what landed and that nothing
was applied twice. Jobs and result-file links live here too, so a restart loses nothing.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterable, Iterator

SCHEMA = """
CREATE TABLE IF NOT EXISTS sequences (name TEXT PRIMARY KEY, next_value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS contacts (
    van_id INTEGER PRIMARY KEY, fields TEXT NOT NULL, created_job INTEGER, updated_job INTEGER);
CREATE TABLE IF NOT EXISTS records (
    key_type TEXT NOT NULL, pk INTEGER NOT NULL, resource TEXT NOT NULL, fields TEXT NOT NULL,
    created_job INTEGER, updated_job INTEGER, PRIMARY KEY (key_type, pk));
CREATE TABLE IF NOT EXISTS applied (
    id INTEGER PRIMARY KEY AUTOINCREMENT, job_id INTEGER NOT NULL, mapping_type TEXT NOT NULL,
    mapping_instance INTEGER NOT NULL, resource TEXT NOT NULL, primary_key INTEGER NOT NULL,
    primary_key_type TEXT NOT NULL, row_number INTEGER NOT NULL, fields TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS applied_by_type ON applied (mapping_type);
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY, api_key TEXT NOT NULL, database_mode INTEGER NOT NULL, request TEXT NOT NULL,
    status TEXT NOT NULL, resource_type TEXT NOT NULL, result_kb INTEGER NOT NULL, webhook_url TEXT,
    errors TEXT NOT NULL DEFAULT '[]', created_at REAL NOT NULL, finished_at REAL, ul_file_id INTEGER,
    row_count INTEGER, rows_failed INTEGER, force_fail INTEGER NOT NULL DEFAULT 0,
    polls_not_found INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS result_files (
    token TEXT PRIMARY KEY, job_id INTEGER NOT NULL, seq INTEGER NOT NULL, path TEXT NOT NULL,
    file_name TEXT NOT NULL, expires_at REAL NOT NULL);
"""

TERMINAL = ("Completed", "CompletedWithErrors", "Failed")


class Store:
    """Thread-safe access to the state file. Writes are serialised by one lock; reads run in parallel."""

    def __init__(self, state_dir: Path):
        self.state_dir = Path(state_dir)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.results_dir = self.state_dir / "results"
        self.results_dir.mkdir(exist_ok=True)
        self.path = self.state_dir / "simulator.sqlite3"
        self._write_lock = threading.RLock()
        self._local = threading.local()
        with self._conn() as c:
            c.execute("PRAGMA journal_mode=WAL")
            c.executescript(SCHEMA)

    @contextmanager
    def _conn(self) -> Iterator[sqlite3.Connection]:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA busy_timeout=30000")
            conn.execute("PRAGMA synchronous=NORMAL")
            self._local.conn = conn
        yield conn

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        with self._write_lock, self._conn() as c:
            c.execute("BEGIN IMMEDIATE")
            try:
                yield c
            except BaseException:
                c.execute("ROLLBACK")
                raise
            c.execute("COMMIT")

    def query(self, sql: str, params: Iterable[Any] = ()) -> list[sqlite3.Row]:
        with self._conn() as c:
            return c.execute(sql, tuple(params)).fetchall()

    # -- ids -------------------------------------------------------------------------------------
    def next_ids(self, name: str, n: int, first: int) -> int:
        """Reserve ``n`` consecutive ids of sequence ``name``; returns the first. Gaps are harmless."""
        with self.transaction() as c:
            row = c.execute("SELECT next_value FROM sequences WHERE name=?", (name,)).fetchone()
            start = row["next_value"] if row else first
            c.execute("INSERT OR REPLACE INTO sequences VALUES (?, ?)", (name, start + n))
            return start

    # -- contacts and records ----------------------------------------------------------------------
    def seed_contacts(self, contacts: Iterable[dict[str, Any]]) -> None:
        with self.transaction() as c:
            for contact in contacts:
                fields = {k: v for k, v in contact.items() if k.lower() != "vanid"}
                van_id = next(int(v) for k, v in contact.items() if k.lower() == "vanid")
                c.execute("INSERT OR IGNORE INTO contacts (van_id, fields) VALUES (?, ?)",
                          (van_id, json.dumps(fields)))

    def seed_records(self, records: Iterable[dict[str, Any]]) -> None:
        with self.transaction() as c:
            for r in records:
                c.execute("INSERT OR IGNORE INTO records (key_type, pk, resource, fields) VALUES (?,?,?,?)",
                          (r["keyType"], int(r["pk"]), r.get("resource", ""), json.dumps(r.get("fields", {}))))

    def existing_keys(self, key_type: str, keys: Iterable[int]) -> set[int]:
        keys = list(set(keys))
        found: set[int] = set()
        for i in range(0, len(keys), 500):
            chunk = keys[i:i + 500]
            marks = ",".join("?" * len(chunk))
            if key_type == "VanID":
                rows = self.query(f"SELECT van_id AS k FROM contacts WHERE van_id IN ({marks})", chunk)
            else:
                rows = self.query(f"SELECT pk AS k FROM records WHERE key_type=? AND pk IN ({marks})",
                                  [key_type, *chunk])
            found.update(r["k"] for r in rows)
        return found

    def contacts(self) -> list[dict[str, Any]]:
        """Every contact as ``{"VanID": int, **stored fields}``, ordered by VanID."""
        return [{"VanID": r["van_id"], **json.loads(r["fields"])}
                for r in self.query("SELECT van_id, fields FROM contacts ORDER BY van_id")]

    def contact(self, van_id: int) -> dict[str, Any] | None:
        rows = self.query("SELECT van_id, fields FROM contacts WHERE van_id=?", [int(van_id)])
        return {"VanID": rows[0]["van_id"], **json.loads(rows[0]["fields"])} if rows else None

    def records(self, key_type: str | None = None) -> list[dict[str, Any]]:
        sql = "SELECT * FROM records" + (" WHERE key_type=?" if key_type else "") + " ORDER BY key_type, pk"
        return [{"keyType": r["key_type"], "pk": r["pk"], "resource": r["resource"],
                 "fields": json.loads(r["fields"]), "createdJob": r["created_job"]}
                for r in self.query(sql, [key_type] if key_type else [])]

    def applied(self, mapping_type: str | None = None, job_id: int | None = None) -> list[dict[str, Any]]:
        """Applied mapping rows (optionally of one mapping type and/or job), in application order."""
        where, params = [], []
        if mapping_type:
            where.append("lower(mapping_type)=lower(?)")
            params.append(mapping_type)
        if job_id is not None:
            where.append("job_id=?")
            params.append(int(job_id))
        sql = "SELECT * FROM applied" + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY id"
        return [{"jobId": r["job_id"], "mappingType": r["mapping_type"], "mappingInstance": r["mapping_instance"],
                 "resourceType": r["resource"], "primaryKey": r["primary_key"],
                 "primaryKeyType": r["primary_key_type"], "rowNumber": r["row_number"],
                 "fields": json.loads(r["fields"])} for r in self.query(sql, params)]

    # -- jobs --------------------------------------------------------------------------------------
    def insert_job(self, job_id: int, api_key: str, mode: int, request: dict, resource_type: str,
                   result_kb: int, webhook_url: str | None, force_fail: bool, polls_not_found: int) -> None:
        with self.transaction() as c:
            c.execute(
                "INSERT INTO jobs (id, api_key, database_mode, request, status, resource_type, result_kb,"
                " webhook_url, created_at, force_fail, polls_not_found) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (job_id, api_key, mode, json.dumps(request), "Pending", resource_type, result_kb, webhook_url,
                 time.time(), int(force_fail), polls_not_found))

    def job_row(self, job_id: int) -> sqlite3.Row | None:
        rows = self.query("SELECT * FROM jobs WHERE id=?", [job_id])
        return rows[0] if rows else None

    def take_poll_not_found(self, job_id: int) -> bool:
        """Consume one injected 404 for this job; True when this poll must answer 404."""
        with self.transaction() as c:
            cur = c.execute("UPDATE jobs SET polls_not_found = polls_not_found - 1 "
                            "WHERE id=? AND polls_not_found > 0", (job_id,))
            return cur.rowcount > 0

    def set_status(self, job_id: int, status: str) -> None:
        with self.transaction() as c:
            c.execute("UPDATE jobs SET status=? WHERE id=?", (status, job_id))

    def fail_job(self, job_id: int, errors: list[dict]) -> None:
        with self.transaction() as c:
            c.execute("UPDATE jobs SET status='Failed', errors=?, finished_at=? WHERE id=?",
                      (json.dumps(errors), time.time(), job_id))

    def unfinished_jobs(self) -> list[int]:
        marks = ",".join("?" * len(TERMINAL))
        return [r["id"] for r in self.query(f"SELECT id FROM jobs WHERE status NOT IN ({marks}) ORDER BY id",
                                            TERMINAL)]

    def jobs(self) -> list[dict[str, Any]]:
        return [{"id": r["id"], "status": r["status"], "resourceType": r["resource_type"],
                 "databaseMode": r["database_mode"], "errors": json.loads(r["errors"]),
                 "rowCount": r["row_count"], "rowsFailed": r["rows_failed"], "ulFileId": r["ul_file_id"],
                 "request": json.loads(r["request"])}
                for r in self.query("SELECT * FROM jobs ORDER BY id")]

    def result_files(self, job_id: int) -> list[sqlite3.Row]:
        return self.query("SELECT * FROM result_files WHERE job_id=? ORDER BY seq", [job_id])

    def result_file(self, token: str) -> sqlite3.Row | None:
        rows = self.query("SELECT * FROM result_files WHERE token=?", [token])
        return rows[0] if rows else None

    def expire_result_files(self, job_id: int | None = None) -> int:
        """Make result links expire now (fault injection / tests)."""
        with self.transaction() as c:
            if job_id is None:
                return c.execute("UPDATE result_files SET expires_at=?", (time.time() - 1,)).rowcount
            return c.execute("UPDATE result_files SET expires_at=? WHERE job_id=?",
                             (time.time() - 1, job_id)).rowcount


class StoreView:
    """The read-only face of the store that tests and the package see as ``sim.store``."""

    def __init__(self, store: Store):
        self._store = store

    @property
    def path(self) -> Path:
        return self._store.path

    def contacts(self) -> list[dict[str, Any]]:
        return self._store.contacts()

    def contact(self, van_id: int) -> dict[str, Any] | None:
        return self._store.contact(van_id)

    def records(self, key_type: str | None = None) -> list[dict[str, Any]]:
        return self._store.records(key_type)

    def applied(self, mapping_type: str | None = None, job_id: int | None = None) -> list[dict[str, Any]]:
        return self._store.applied(mapping_type, job_id)

    def jobs(self) -> list[dict[str, Any]]:
        return self._store.jobs()

    def job(self, job_id: int) -> dict[str, Any] | None:
        return next((j for j in self._store.jobs() if j["id"] == int(job_id)), None)
