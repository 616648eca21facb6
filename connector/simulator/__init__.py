"""A local NGP VAN / EveryAction Bulk Import API over real HTTP (see docs/simulator.md).

It imports nothing from the package except ``connector.catalog``: it judges the connector honestly.
"""

from .config import DEMO_APPLICATION, DEMO_KEY, ApiKey, FaultRule, Faults, SimulatorConfig
from .server import SimulatorServer

__all__ = ["ApiKey", "DEMO_APPLICATION", "DEMO_KEY", "FaultRule", "Faults", "SimulatorConfig", "SimulatorServer"]
