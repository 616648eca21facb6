"""The hosting interface shared by every backend."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class HostedFile:
    key: str  # object name inside the host
    url: str = ""  # signed URL handed to VAN: secret, never stored or logged
    storage_uri: str = ""  # where it lives, without query string (stored in the ledger)


class Host(ABC):
    """Put a file, hand out a time-limited URL, remove it afterwards."""

    name = "base"

    @abstractmethod
    def put(self, path: Path, key: str) -> HostedFile:
        ...

    @abstractmethod
    def delete(self, key: str) -> None:
        ...

    @abstractmethod
    def exists(self, key: str) -> bool:
        ...

    def wait_until_fetched(self, keys: list[str], timeout: float) -> list[str]:
        """The keys VAN has not fetched within ``timeout`` seconds. Object stores keep serving after this process
        ends, so there is nothing to wait for; the local host serves only while the process lives."""
        return []

    def close(self) -> None:
        """Stop background services (the local server); hosted files stay until ``delete``."""

    def __enter__(self) -> "Host":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
