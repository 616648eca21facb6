"""This package's installed version (part of every fingerprint that a new release must not match)."""

from __future__ import annotations

from functools import lru_cache

__all__ = ["package_version"]


@lru_cache(maxsize=1)
def package_version() -> str | None:
    """The installed ``vanbulk`` version; None when run from a source tree that was not installed."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("vanbulk")
    except PackageNotFoundError:
        return None
