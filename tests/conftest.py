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
