"""The embedded demo's VAN world: the contacts and contributions the demo seeds say already exist in VAN.

The demo's mapping types that edit existing records (activist codes on VanID 100001, adjustments to
ContributionID 500001, ...) need those records on the VAN side. With the real API they exist in the user's
committee; with the embedded simulator we load them from the dbt seeds ``van_input.demo_existing_contacts``
and ``van_input.demo_existing_contributions`` once dbt has built them. Nothing here runs against real VAN.
"""

from __future__ import annotations

from typing import Any

from connector.warehouse import Warehouse

DEMO_SCHEMA = "van_input"
CONTACTS = "demo_existing_contacts"
CONTRIBUTIONS = "demo_existing_contributions"


def _rows(warehouse: Warehouse, table: str) -> list[dict[str, Any]]:
    if not warehouse.relation_exists(table, DEMO_SCHEMA):
        return []
    with warehouse.connect() as conn:
        import sqlalchemy as sa

        result = conn.execute(sa.text(f"select * from {warehouse.relation(table, DEMO_SCHEMA)}"))
        return [dict(r._mapping) for r in result]


def seed_simulator(warehouse: Warehouse, simulator) -> tuple[int, int]:
    """Load the demo's existing contacts and contributions into the embedded simulator: (contacts, records)."""
    contacts = [{"VanID": int(r["van_id"]), "FirstName": r.get("first_name"), "LastName": r.get("last_name"),
                 "Email": r.get("email")} for r in _rows(warehouse, CONTACTS)]
    records = [{"keyType": "ContributionID", "pk": int(r["contribution_id"]), "resource": "Contributions",
                "fields": {"VanID": str(r.get("van_id")), "Amount": str(r.get("amount")),
                           "DateReceived": str(r.get("date_received")), "DesignationID": str(r.get("designation_id"))}}
               for r in _rows(warehouse, CONTRIBUTIONS)]
    if contacts:
        simulator.add_contacts(contacts)
    if records:
        simulator.add_records(records)
    return len(contacts), len(records)
