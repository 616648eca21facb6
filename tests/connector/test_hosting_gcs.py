"""GCS hosting (``VANBULK_HOSTING=gs://bucket/prefix``) against gcp-storage-emulator, through the real gcsfs.

vanbulk's host runs inside the gcsfs venv (tests/fixtures/gcs.py, tests/helpers/gcs_host_driver.py); the asserts
are here. The emulator checks no signature, expiry or permission, so the V4 signature is verified here against
the throwaway service account's public key, and the object is fetched through the emulator by the signed URL's
path and query.
"""

from __future__ import annotations

import binascii
import hashlib
import re
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qsl, urlsplit, urlunsplit

import httpx
import pytest

pytestmark = pytest.mark.gcs

TTL = 900
KEY = "run1/job 7/a.zip"  # a space: the object name must be quoted the same way in the path and the signature


@pytest.fixture
def zip_file(tmp_path):
    p = tmp_path / "x.zip"
    p.write_bytes(b"PK\x03\x04 fake zip bytes \x00\xff" + bytes(range(256)))
    return p


def verify_v4_signature(url: str, public_key) -> None:
    """Recompute the V4 string-to-sign from the URL (GCS's spec: GET, path, query without the signature,
    ``host`` as the only signed header, unsigned payload) and check the RSA-SHA256 signature with the key."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    parts = urlsplit(url)
    canonical_query, _, signature = parts.query.partition("&X-Goog-Signature=")
    q = dict(parse_qsl(canonical_query))
    canonical_request = "\n".join(["GET", parts.path, canonical_query, f"host:{parts.netloc}\n", "host",
                                   "UNSIGNED-PAYLOAD"])
    string_to_sign = "\n".join(["GOOG4-RSA-SHA256", q["X-Goog-Date"], q["X-Goog-Credential"].split("/", 1)[1],
                                hashlib.sha256(canonical_request.encode()).hexdigest()])
    public_key.verify(binascii.unhexlify(signature), string_to_sign.encode(), padding.PKCS1v15(), hashes.SHA256())


def test_gcs_v4_signed_url_round_trip_and_delete(gcs_bucket, zip_file):
    emulator, bucket, options = gcs_bucket
    target = f"gs://{bucket}/exports"
    opened, put, exists, deleted, gone, deleted_again = emulator.run_host(target, TTL, options, [
        {"op": "put", "path": str(zip_file), "key": KEY}, {"op": "exists", "key": KEY},
        {"op": "delete", "key": KEY}, {"op": "exists", "key": KEY}, {"op": "delete", "key": KEY}])
    assert opened["host"] == "FsspecHost" and opened["fs"] == "GCSFileSystem"  # open_host picked gcsfs
    assert "error" not in put, put
    assert put["storage_uri"] == f"gs://{bucket}/exports/{KEY}" and "?" not in put["storage_uri"]
    assert exists is True and gone is False and deleted is None and deleted_again is None  # delete is idempotent

    url = urlsplit(put["url"])
    assert url.path == f"/{bucket}/exports/run1/job%207/a.zip"
    q = dict(parse_qsl(url.query))
    assert q["X-Goog-Algorithm"] == "GOOG4-RSA-SHA256"  # V4, not the V2 default of google-cloud-storage
    assert q["X-Goog-Expires"] == str(TTL)
    email, date, location, service, request = q["X-Goog-Credential"].split("/")
    assert (email, location, service, request) == (emulator.service_account, "auto", "storage", "goog4_request")
    signed_at = datetime.strptime(q["X-Goog-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc)
    assert date == q["X-Goog-Date"][:8] and abs(datetime.now(timezone.utc) - signed_at) < timedelta(minutes=5)
    assert q["X-Goog-SignedHeaders"] == "host"
    assert re.fullmatch(r"[0-9a-f]{512}", q["X-Goog-Signature"])  # RSA-2048
    assert not {"Expires", "GoogleAccessId", "Signature"} & q.keys()  # no V2 leftovers
    verify_v4_signature(put["url"], emulator.public_key)  # what the emulator does not check
    with pytest.raises(Exception):  # and the check does check: a changed expiry breaks it
        verify_v4_signature(put["url"].replace(f"X-Goog-Expires={TTL}", "X-Goog-Expires=604800"),
                            emulator.public_key)

    # After the delete the signed URL finds nothing.
    fetch_url = urlunsplit(urlsplit(emulator.endpoint)[:2] + (url.path, url.query, ""))
    assert httpx.get(fetch_url).status_code == 404
    assert emulator.list_objects(bucket) == []


def test_gcs_signed_url_fetches_exactly_the_uploaded_bytes(gcs_bucket, zip_file):
    emulator, bucket, options = gcs_bucket
    _, put, exists = emulator.run_host(f"gs://{bucket}/exports/", TTL, options, [
        {"op": "put", "path": str(zip_file), "key": KEY}, {"op": "exists", "key": KEY}])
    assert "error" not in put, put
    assert exists is True
    assert emulator.list_objects(bucket) == [f"exports/{KEY}"]
    # As VAN would: a plain GET on the signed URL. The emulator stands in for storage.googleapis.com: keep the
    # path and query, point scheme and host at it (with endpoint_url set they are the emulator's already).
    url = urlsplit(put["url"])
    fetch_url = urlunsplit(urlsplit(emulator.endpoint)[:2] + (url.path, url.query, ""))
    r = httpx.get(fetch_url)
    assert r.status_code == 200
    assert r.content == zip_file.read_bytes()


@pytest.mark.parametrize("token", ["anon", {"oauth_access_token": "ya29.secret-user-token"}],
                         ids=["no-credentials", "token-without-private-key"])
def test_gcs_credentials_that_cannot_sign_fail_in_one_line_and_upload_nothing(gcs_bucket, zip_file, token):
    emulator, bucket, options = gcs_bucket
    _, result = emulator.run_host(f"gs://{bucket}/exports", TTL, {**options, "token": token},
                                  [{"op": "put", "path": str(zip_file), "key": KEY}])
    assert result["error"] == "HostingError", result
    message = result["message"]
    assert "\n" not in message and "GOOGLE_APPLICATION_CREDENTIALS" in message and "private key" in message
    assert "secret-user-token" not in message and "BEGIN" not in message
    assert emulator.list_objects(bucket) == []  # signing comes first: nothing left behind


def test_gcs_ttl_beyond_seven_days_is_refused(gcs_bucket):
    emulator, bucket, options = gcs_bucket
    (result,) = emulator.run_host(f"gs://{bucket}/exports", 8 * 24 * 3600, options, [])
    assert result["error"] == "HostingError" and "7 days" in result["message"]
