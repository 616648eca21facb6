"""Shared fixtures. Real parts only: DuckDB files, a PostgreSQL server, the HTTP simulator, moto's S3 server."""

import os

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")

pytest_plugins = ["tests.fixtures.postgres", "tests.fixtures.simulator", "tests.fixtures.s3"]
