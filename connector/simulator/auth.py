"""HTTP Basic authentication and the context a key resolves to (database mode, visible mapping types)."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from connector.catalog import Catalog, MappingType

from .config import ApiKey, SimulatorConfig
from .errors import ApiError, error

UNAUTHORIZED_TEXT = "Authorization has been denied for this request."
MODE_NAMES = {0: "VoterFile", 1: "MyCampaign"}


def unauthorized() -> ApiError:
    return ApiError(401, [error("UNAUTHORIZED", UNAUTHORIZED_TEXT)], {"WWW-Authenticate": 'Basic realm="VAN"'})


@dataclass(frozen=True)
class Context:
    """What one key|mode sees: VAN scopes every answer to the key's database mode and permissions."""

    api_key: ApiKey
    database_mode: int
    catalog: Catalog

    @property
    def key_id(self) -> str:
        return self.api_key.key

    def mapping_type_exists(self, mt: MappingType) -> bool:
        if self.database_mode not in mt.database_modes:
            return False
        allow = self.api_key.mapping_types
        return allow is None or mt.name.lower() in {n.lower() for n in allow}

    def may_use(self, mt: MappingType) -> bool:
        if not mt.requires_permission:
            return True
        return mt.name.lower() in {p.lower() for p in self.api_key.permissions}

    def visible_mapping_types(self) -> list[MappingType]:
        """What GET /bulkImportMappingTypes lists: existing in this mode and usable by this key."""
        return [mt for mt in self.catalog if self.mapping_type_exists(mt) and self.may_use(mt)]

    def find_mapping_type(self, name: str) -> MappingType | None:
        """By API name only (case-insensitive), and only when it exists in this database mode."""
        for mt in self.catalog:
            if mt.name.lower() == str(name).lower() and self.mapping_type_exists(mt):
                return mt
        return None

    def resources(self) -> list[str]:
        return [r for r in self.catalog.resources
                if self.database_mode in self.catalog.resource_info(r).get("databaseModes", (0, 1))]

    def find_resource(self, name: str) -> str | None:
        for r in self.resources():
            if r.lower() == str(name).lower():
                return r
        return None


def authenticate(header: str | None, config: SimulatorConfig, catalog: Catalog) -> Context:
    """Basic auth: username = application name, password = ``<key>|<mode>``. Raises 401 otherwise."""
    if not header or not header[:6].lower() == "basic ":
        raise unauthorized()
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise unauthorized() from None
    app, sep, password = decoded.partition(":")
    if not sep or "|" not in password:
        raise unauthorized()
    key, _, mode_text = password.rpartition("|")
    if mode_text not in ("0", "1") or "|" in key:
        raise unauthorized()
    mode = int(mode_text)
    for candidate in config.api_keys:
        if candidate.key.lower() != key.lower():
            continue
        if candidate.application_name is not None and candidate.application_name != app:
            continue
        if mode not in candidate.database_modes:
            continue
        return Context(candidate, mode, catalog)
    raise unauthorized()
