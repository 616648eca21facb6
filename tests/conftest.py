"""Shared fixtures. Real parts only: DuckDB files, a PostgreSQL server, the HTTP simulator, S3 and GCS emulators."""

import os

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")
if os.environ.get("PYTEST_XDIST_WORKER"):
    # Parallel workers (make test: pytest -n): dbt writes target/ and logs/ inside the project it builds, and
    # several tests build the repository's dbt_project/; give each worker its own.
    import tempfile

    _dbt_dir = tempfile.mkdtemp(prefix=f"vanbulk-dbt-{os.environ['PYTEST_XDIST_WORKER']}-")
    os.environ.setdefault("DBT_TARGET_PATH", os.path.join(_dbt_dir, "target"))
    os.environ.setdefault("DBT_LOG_PATH", os.path.join(_dbt_dir, "logs"))

pytest_plugins = ["tests.fixtures.postgres", "tests.fixtures.simulator", "tests.fixtures.s3", "tests.fixtures.bigquery",
                  "tests.fixtures.snowflake", "tests.fixtures.gcs", "tests.fixtures.demo"]


def _cost_class(item) -> int:
    """0: an end-to-end run on an emulator (minutes, most of it the emulator's CPU); 1: another end-to-end run;
    2: everything else."""
    slow = item.get_closest_marker("slow") is not None
    emulated = any(item.get_closest_marker(m) is not None for m in ("bigquery", "snowflake"))
    return 0 if slow and emulated else 1 if slow else 2


def pytest_collection_modifyitems(config, items):
    """The costliest files first, each file's tests together and in their own order. `make test` runs the files
    on xdist workers in this order (--dist loadfile --no-loadscope-reorder): xdist's default puts files with many
    tests first, so a one-test file that runs five minutes started last and the whole suite waited for it."""
    first_seen: dict[str, tuple[int, int]] = {}
    for i, item in enumerate(items):
        path = item.nodeid.split("::", 1)[0]
        cls, at = first_seen.get(path, (3, i))
        first_seen[path] = (min(cls, _cost_class(item)), at)
    items[:] = sorted(items, key=lambda it: first_seen[it.nodeid.split("::", 1)[0]])  # stable: order within a file
