"""VanClient against httpx.MockTransport: retries, Retry-After, typed errors, 404 after POST, pagination, redaction."""

from __future__ import annotations

import base64
import io
import json
import logging

import httpx
import pytest

from connector.errors import (
    SubmitAmbiguous,
    VanAuthError,
    VanConnectionError,
    VanNotFound,
    VanPermissionError,
    VanRateLimited,
    VanServerError,
    VanValidationError,
)
from connector.redaction import register_secret
from connector.van_client import VanClient

KEY = "7c9e6679-7425-40de-944b-e07fc1f90ae7"
BASE = "https://api.example.test/v4/"


def make(handler, **kw):
    sleeps: list[float] = []
    register_secret(f"{KEY}|1")
    c = VanClient(BASE, "acmeSync", f"{KEY}|1", transport=httpx.MockTransport(handler), sleep=sleeps.append,
                  max_retries=kw.pop("max_retries", 3), **kw)
    return c, sleeps


def err(status, code="X", text="t", headers=None, **extra):
    return httpx.Response(status, json={"errors": [{"code": code, "text": text, **extra}]}, headers=headers)


def test_basic_auth_carries_application_name_and_key_with_mode():
    seen = {}

    def handler(req):
        seen["auth"] = req.headers["Authorization"]
        return httpx.Response(200, json=["Contacts"])

    c, _ = make(handler)
    assert c.get_resources() == ["Contacts"]
    assert base64.b64decode(seen["auth"].split()[1]).decode() == f"acmeSync:{KEY}|1"


def test_retries_429_honouring_retry_after_then_succeeds():
    calls = []

    def handler(req):
        calls.append(1)
        if len(calls) < 3:
            return err(429, "TOO_MANY", headers={"Retry-After": "7"})
        return httpx.Response(200, json=["Contacts"])

    c, sleeps = make(handler)
    assert c.get_resources() == ["Contacts"]
    assert sleeps == [7.0, 7.0]


def test_5xx_and_connection_errors_retry_with_growing_backoff():
    calls = []

    def handler(req):
        calls.append(1)
        if len(calls) == 1:
            raise httpx.ConnectError("refused")
        if len(calls) in (2, 3):
            return err(503, "UNAVAILABLE")
        return httpx.Response(200, json={"items": [], "nextPageLink": None, "count": 0})

    c, sleeps = make(handler, backoff_base=1.0)
    assert c.list_mapping_types() == []
    assert len(sleeps) == 3
    assert 0.5 <= sleeps[0] <= 1 and 1 <= sleeps[1] <= 2 and 2 <= sleeps[2] <= 4  # full jitter in [cap/2, cap]


def test_retries_exhausted_raise_typed_retriable_error():
    c, sleeps = make(lambda req: err(500, "BOOM"), max_retries=2)
    with pytest.raises(VanServerError) as ei:
        c.get_resources()
    assert ei.value.retriable and ei.value.status_code == 500 and len(sleeps) == 2


@pytest.mark.parametrize("status,exc", [(400, VanValidationError), (401, VanAuthError), (403, VanPermissionError),
                                        (404, VanNotFound)])
def test_fatal_statuses_are_typed_and_not_retried(status, exc):
    calls = []

    def handler(req):
        calls.append(1)
        return err(status, "INVALID_PARAMETER", "bad", properties=["description"], referenceCode="REF9")

    c, sleeps = make(handler)
    with pytest.raises(exc) as ei:
        c.get_mapping_type("ActivistCode")
    assert len(calls) == 1 and sleeps == [] and not ei.value.retriable
    assert ei.value.errors[0]["code"] == "INVALID_PARAMETER"
    assert ei.value.reference_codes == ["REF9"]
    assert "REF9" in str(ei.value) and "description" in str(ei.value)


def test_validation_error_carries_vans_error_list():
    body = {"errors": [{"code": "INVALID_PARAMETER", "text": "a"}, {"code": "INVALID_PARAMETER", "text": "b"}]}
    c, _ = make(lambda req: httpx.Response(400, json=body))
    with pytest.raises(VanValidationError) as ei:
        c.create_job({"description": "x"})
    assert [e["text"] for e in ei.value.errors] == ["a", "b"]


def test_post_is_never_retried_after_a_5xx_or_read_timeout():
    calls = []

    def handler(req):
        calls.append(1)
        return err(502, "BAD_GATEWAY")

    c, _ = make(handler)
    with pytest.raises(SubmitAmbiguous):
        c.create_job({"description": "x"})
    assert len(calls) == 1

    def timeout(req):
        raise httpx.ReadTimeout("slow")

    c, _ = make(timeout)
    with pytest.raises(SubmitAmbiguous):
        c.create_job({})


def test_post_retries_when_it_never_reached_van_and_on_429():
    calls = []

    def handler(req):
        calls.append(1)
        if len(calls) == 1:
            raise httpx.ConnectError("refused")
        if len(calls) == 2:
            return err(429, headers={"Retry-After": "1"})
        assert req.headers["Content-Type"] == "application/json"
        return httpx.Response(201, json={"jobId": 998877})

    c, _ = make(handler)
    assert c.create_job({"description": "x"}) == 998877
    assert len(calls) == 3


def test_404_right_after_post_is_treated_as_not_yet_visible():
    calls = []

    def handler(req):
        calls.append(1)
        if len(calls) <= 2:
            return httpx.Response(404, json={"errors": [{"code": "NOT_FOUND", "text": "The specified resource cannot be found."}]})
        return httpx.Response(200, json={"id": 5, "status": "Pending"})

    c, sleeps = make(handler)
    assert c.get_job(5, not_found_retries=3)["status"] == "Pending"
    assert len(sleeps) == 2
    c2, _ = make(lambda req: httpx.Response(404, json={}))
    with pytest.raises(VanNotFound):
        c2.get_job(5)


def test_paginated_envelope_follows_next_page_link_and_bare_array_accepted():
    def handler(req):
        if req.url.path.endswith("/values"):
            return httpx.Response(200, json=[{"id": "1"}])  # bare array
        skip = int(req.url.params.get("$skip", 0))
        nxt = f"{BASE}bulkImportMappingTypes?$top=2&$skip={skip + 2}" if skip < 4 else None
        return httpx.Response(200, json={"items": [{"name": f"m{skip}"}, {"name": f"m{skip + 1}"}],
                                         "nextPageLink": nxt, "count": 6})

    c, _ = make(handler)
    assert [m["name"] for m in c.list_mapping_types()] == ["m0", "m1", "m2", "m3", "m4", "m5"]
    assert c.get_field_values("ActivistCode", "ActivistCodeID") == [{"id": "1"}]


def test_relative_next_page_link():
    def handler(req):
        if "$skip" in str(req.url):
            return httpx.Response(200, json={"items": [2], "nextPageLink": None})
        return httpx.Response(200, json={"items": [1], "nextPageLink": "/v4/bulkImportMappingTypes?$skip=1"})

    c, _ = make(handler)
    assert c.list_mapping_types() == [1, 2]


def test_secrets_never_in_exceptions_or_logs(caplog):
    def handler(req):
        return httpx.Response(401, json={"errors": [{"code": "UNAUTHORIZED", "text": f"bad key {KEY}|1"}]})

    c, _ = make(handler)
    with caplog.at_level(logging.DEBUG):
        with pytest.raises(VanAuthError) as ei:
            c.get_resources()
    assert KEY not in str(ei.value) and KEY not in repr(c)

    def signed(req):
        return err(503)

    c, _ = make(signed, max_retries=1)
    with caplog.at_level(logging.DEBUG):
        with pytest.raises(VanServerError) as ei:
            c._request("GET", f"{BASE}x?sig=SECRETSIG&X-Amz-Signature=abc")
    assert "SECRETSIG" not in str(ei.value)
    assert "SECRETSIG" not in caplog.text and KEY not in caplog.text


def test_download_sends_no_credentials_to_another_host_and_retries():
    calls = []

    def handler(req):
        calls.append(req)
        if len(calls) == 1:
            return httpx.Response(503)
        return httpx.Response(200, content=b"a,b\r\n")

    c, _ = make(handler)
    buf = io.BytesIO()
    assert c.download("https://files.example.org/r.csv?sig=abc", buf) == 5
    assert buf.getvalue() == b"a,b\r\n"
    assert all("Authorization" not in r.headers for r in calls)


def test_connection_error_type_when_all_retries_fail():
    def handler(req):
        raise httpx.ConnectError("refused")

    c, sleeps = make(handler, max_retries=2)
    with pytest.raises(VanConnectionError):
        c.get_resources()
    assert len(sleeps) == 2


def test_rate_limited_error_exposes_retry_after():
    c, _ = make(lambda req: err(429, headers={"Retry-After": "3"}), max_retries=0)
    with pytest.raises(VanRateLimited) as ei:
        c.get_resources()
    assert ei.value.retry_after == 3.0 and ei.value.retriable
    assert json.loads(json.dumps(ei.value.errors))  # plain data, storable
