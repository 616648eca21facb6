"""``bigquery+vanbulk://PROJECT/DATASET?...``: sqlalchemy-bigquery's dialect over vanbulk's own DB-API connection
(connector/warehouse/engines/bigquery.py: parameters rendered as GoogleSQL literals, the client built from the
URL's ``location``, ``credentials_path``, ``api_endpoint`` and ``anonymous`` keys).

Why a registered dialect and not only a ``creator``: Great Expectations builds its own engine from a URL, so the
pre-flight's checkpoint reaches the same warehouse (an emulator included) the same way the ledger does. The
dialect's name stays ``bigquery``, so SQLAlchemy and GX compile GoogleSQL. Imported only where
``vanbulk[bigquery]`` is installed.
"""

from __future__ import annotations

import threading

import sqlalchemy as sa
from sqlalchemy_bigquery.base import BigQueryDialect

DRIVER = "vanbulk"
_OWN_KEYS = ("api_endpoint", "anonymous", "credentials_path")


class VanbulkBigQueryDialect(BigQueryDialect):
    """One client per dialect (engine), made at the first connection: credentials are looked up then."""

    driver = DRIVER
    supports_statement_cache = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._vanbulk_client = None
        self._vanbulk_lock = threading.Lock()

    @classmethod
    def import_dbapi(cls):
        from google.cloud.bigquery import dbapi

        return dbapi  # its exception classes; connections are made by ``connect`` below

    def create_connect_args(self, url: sa.URL):
        own = url.set(drivername="bigquery")
        base = own.set(query={k: v for k, v in url.query.items() if k not in _OWN_KEYS}
                       | {"user_supplied_client": "true"})
        super().create_connect_args(base)  # project, dataset, location, arraysize for the dialect's own use
        return [], {"vanbulk_url": own.render_as_string(hide_password=False)}

    def connect(self, *cargs, vanbulk_url: str = "", **cparams):
        from connector.warehouse.engines.bigquery import _Connection, bigquery_client

        with self._vanbulk_lock:
            if self._vanbulk_client is None:
                self._vanbulk_client = bigquery_client(vanbulk_url)
        return _Connection(self._vanbulk_client)


def register() -> None:
    from sqlalchemy.dialects import registry

    registry.register(f"bigquery.{DRIVER}", __name__, "VanbulkBigQueryDialect")


def dialect_url(url: str) -> str:
    """``bigquery://...`` -> ``bigquery+vanbulk://...`` (registered first)."""
    register()
    return "bigquery+" + DRIVER + url[len("bigquery"):] if url.startswith("bigquery://") else url
