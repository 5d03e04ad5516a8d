"""The layers point down only: core (hydrawatch/) -> features -> models -> jobs -> flows -> cli.

Read from the source (every import statement, at module level or inside a function), so a lazy
import that runs upward fails here as well. Jobs do not import each other: what two jobs share
lives below them.
"""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LAYERS = ("hydrawatch", "features", "models", "jobs", "flows", "cli")
# A module of the simulator may move out of the core package (its own top-level package).
ALSO_BELOW = {"simulator": 0}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def _layer(module: str) -> int | None:
    top = module.split(".")[0]
    if top in LAYERS:
        return LAYERS.index(top)
    return ALSO_BELOW.get(top)


def test_no_module_imports_a_layer_above_its_own():
    upward = []
    for package in LAYERS:
        for path in sorted((REPO / package).rglob("*.py")):
            own = LAYERS.index(package)
            for module in _imports(path):
                layer = _layer(module)
                if layer is not None and layer > own:
                    upward.append(f"{path.relative_to(REPO)} imports {module}")
    assert upward == []


def test_jobs_do_not_import_each_other():
    crossing = []
    for path in sorted((REPO / "jobs").glob("*.py")):
        for module in _imports(path):
            if module.startswith("jobs.") and module != f"jobs.{path.stem}":
                crossing.append(f"{path.relative_to(REPO)} imports {module}")
    assert crossing == []


def test_only_the_storage_boundary_opens_delta_tables():
    """Every table read and write goes through hydrawatch.storage."""
    outside = []
    for package in ("hydrawatch", "features", "models", "jobs", "flows", "cli"):
        for path in sorted((REPO / package).rglob("*.py")):
            if path.is_relative_to(REPO / "hydrawatch" / "storage") or path.name == "spark.py":
                continue
            text = path.read_text()
            for marker in ('format("delta")', "DeltaTable", "isDeltaTable", "_jvm"):
                if marker in text:
                    outside.append(f"{path.relative_to(REPO)}: {marker}")
    assert outside == []
