"""The public surface is small and deliberate (httpx's habit): this test locks it."""

import connector

EXPECTED = {
    "BulkImportJobFailed", "CheckResult", "PollTimeout", "RunSummary", "Settings", "SubmitAmbiguous",
    "VanAuthError", "VanClient", "VanError", "VanNotFound", "VanPermissionError", "VanRateLimited",
    "VanServerError", "VanValidationError", "debug", "load_settings", "refresh_catalog", "results",
    "retry_failed", "run", "status",
}


def test_all_is_locked():
    assert set(connector.__all__) == EXPECTED
    assert len(connector.__all__) == len(EXPECTED)


def test_every_public_name_resolves():
    for name in connector.__all__:
        assert getattr(connector, name) is not None, name


def test_error_hierarchy():
    assert issubclass(connector.VanAuthError, connector.VanError)
    assert issubclass(connector.BulkImportJobFailed, connector.VanError)
    assert connector.VanRateLimited.retriable and connector.VanServerError.retriable
    assert not connector.VanValidationError.retriable
