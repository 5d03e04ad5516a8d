"""The simulator sits beside the pipeline: it imports only the core and pyspark, and nothing in
the core, features or models imports it."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CORE_ALLOWED = {
    "hydrawatch.settings",
    "hydrawatch.errors",
    "hydrawatch.contracts",
    "hydrawatch.spark",
}
THIRD_PARTY_ALLOWED = {"pyspark", "xxhash"}


def _imports(path: Path) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
    return out


def test_simulator_imports_only_the_core_and_pyspark():
    for path in sorted((ROOT / "simulator").rglob("*.py")):
        for name in _imports(path):
            top = name.split(".")[0]
            if top in ("simulator", "__future__") or top in sys.stdlib_module_names:
                continue
            if top == "hydrawatch":
                assert name in CORE_ALLOWED, (path.name, name)
            else:
                assert top in THIRD_PARTY_ALLOWED, (path.name, name)


def test_core_features_and_models_do_not_import_the_simulator():
    for package in ("hydrawatch", "features", "models"):
        for path in sorted((ROOT / package).rglob("*.py")):
            assert not any(n.split(".")[0] == "simulator" for n in _imports(path)), path
