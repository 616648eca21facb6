"""The simulator judges the connector honestly: it imports nothing from the package but the catalogue."""

from __future__ import annotations

import ast
from pathlib import Path

import connector.simulator

ALLOWED = ("connector.catalog",)


def test_simulator_imports_only_the_catalogue():
    root = Path(connector.simulator.__file__).parent
    offenders = []
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                if (name == "connector" or name.startswith("connector.")) and not any(
                        name == a or name.startswith(a + ".") for a in ALLOWED):
                    offenders.append(f"{path.name}: {name}")
    assert offenders == []
    assert len(list(root.glob("*.py"))) >= 8
