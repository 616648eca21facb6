"""Hosting: the local host's signed, expiring links; S3 presigned URLs against moto's server."""

from __future__ import annotations

import httpx
import pytest

from connector.config import Settings
from connector.hosting import FsspecHost, LocalFileHost, open_host


@pytest.fixture
def zip_file(tmp_path):
    p = tmp_path / "x.zip"
    p.write_bytes(b"PK\x03\x04 fake zip bytes")
    return p


def test_local_host_serves_signed_links_until_they_expire(tmp_path, zip_file):
    now = [1_000_000.0]
    with LocalFileHost(tmp_path / "hosted", ttl_seconds=60, clock=lambda: now[0]) as host:
        hosted = host.put(zip_file, "run/a.zip")
        assert "?" not in hosted.storage_uri and "sig=" in hosted.url
        assert httpx.get(hosted.url).content == zip_file.read_bytes()
        assert httpx.get(hosted.storage_uri).status_code == 403  # unsigned
        assert httpx.get(hosted.url.replace("sig=", "sig=0")).status_code == 403  # tampered
        now[0] += 61
        assert httpx.get(hosted.url).status_code == 403  # expired
        assert httpx.get(host.sign("run/a.zip")).status_code == 200  # a fresh link works
        host.delete("run/a.zip")
        assert not host.exists("run/a.zip")
        assert httpx.get(host.sign("run/a.zip")).status_code == 404
        assert host.downloads == ["run/a.zip", "run/a.zip"]


def test_local_host_refuses_path_escape(tmp_path, zip_file):
    with LocalFileHost(tmp_path / "hosted") as host:
        with pytest.raises(Exception):
            host.put(zip_file, "../../etc/x")


def test_open_host_picks_backend(tmp_path):
    s = Settings(project_dir=tmp_path)
    with open_host(s) as h:
        assert isinstance(h, LocalFileHost)
    with pytest.raises(ValueError):
        open_host(s.replace(hosting="ftp:/nope"))


@pytest.mark.s3
def test_s3_presigned_url_round_trip_and_delete(s3_bucket, zip_file):
    bucket, options = s3_bucket
    host = FsspecHost(f"s3://{bucket}/exports", ttl_seconds=120, storage_options=options)
    hosted = host.put(zip_file, "run1/job/a.zip")
    assert hosted.storage_uri == f"s3://{bucket}/exports/run1/job/a.zip"
    assert "X-Amz-Signature=" in hosted.url and "X-Amz-Expires=120" in hosted.url  # SigV4, limited lifetime
    assert httpx.get(hosted.url).content == zip_file.read_bytes()
    assert host.exists("run1/job/a.zip")
    host.delete("run1/job/a.zip")
    assert not host.exists("run1/job/a.zip")
    host.delete("run1/job/a.zip")  # idempotent


def test_local_host_waits_until_each_file_is_fetched(tmp_path, zip_file):
    """`run --no-wait` stays until VAN has read its files from the local host (it stops with the process)."""
    import threading

    with LocalFileHost(tmp_path / "hosted") as host:
        a, b, gone = (host.put(zip_file, f"run/{n}.zip") for n in ("a", "b", "gone"))
        host.delete(gone.key)  # refused at POST: deleted, never fetched, not waited for
        assert host.wait_until_fetched([a.key, b.key, gone.key], timeout=0.2) == [a.key, b.key]
        assert httpx.get(a.url).status_code == 200
        assert host.wait_until_fetched([a.key, b.key], timeout=0.2) == [b.key]
        threading.Timer(0.3, lambda: httpx.get(b.url)).start()  # VAN fetches while we wait
        assert host.wait_until_fetched([a.key, b.key], timeout=30) == []


def test_object_stores_need_no_wait(s3_bucket, zip_file):
    bucket, options = s3_bucket
    host = FsspecHost(f"s3://{bucket}/exports", ttl_seconds=120, storage_options=options)
    f = host.put(zip_file, "run/a.zip")
    assert host.wait_until_fetched([f.key], timeout=5) == []  # the bucket serves it after we are gone
