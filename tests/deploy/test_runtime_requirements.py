"""Everything the image ships imports only the standard library, itself, and requirements.txt.

The image installs requirements.txt alone (no test tools), so a module under src/ that imports a
package listed nowhere there works in the test venv and dies in the container. This reads every
import statement of the shipped code and maps it to the distribution that provides it.
"""

from __future__ import annotations

import ast
import re
import sys
from importlib.metadata import packages_distributions
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
OWN_PACKAGE = "ds_monitor"


def normalise(name: str) -> str:
    """PEP 503 name normalisation: PyYAML == pyyaml, python_dotenv == python-dotenv."""
    return re.sub(r"[-_.]+", "-", name).lower()


def runtime_requirements() -> set[str]:
    names = set()
    for line in (REPO / "requirements.txt").read_text(encoding="utf-8").splitlines():
        requirement = line.split("#", 1)[0].strip()
        if requirement:
            names.add(normalise(re.split(r"[<>=!~;\[ ]", requirement, maxsplit=1)[0]))
    return names


def shipped_top_level_imports() -> dict[str, str]:
    """Top-level module name -> the first shipped file importing it (absolute imports only)."""
    found: dict[str, str] = {}
    for path in sorted([REPO / "main.py", *(REPO / "src").rglob("*.py")]):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules = [node.module]
            else:
                continue
            for module in modules:
                found.setdefault(module.split(".")[0], str(path.relative_to(REPO)))
    return found


def test_shipped_code_imports_only_stdlib_and_pinned_runtime_packages():
    required = runtime_requirements()
    providers = packages_distributions()
    missing = []
    for module, where in sorted(shipped_top_level_imports().items()):
        if module == OWN_PACKAGE or module in sys.stdlib_module_names:
            continue
        distributions = {normalise(d) for d in providers.get(module, [])}
        if not distributions & required:
            provided_by = ", ".join(sorted(distributions)) or "not installed"
            missing.append(f"{where} imports {module} ({provided_by})")
    assert not missing, "not in requirements.txt: " + "; ".join(missing)


def test_the_scan_sees_the_third_party_packages_the_monitor_is_known_to_use():
    # Guards the scan itself: if it stopped finding imports, the test above would pass vacuously.
    assert {"click", "requests", "yaml", "prometheus_client"} <= set(shipped_top_level_imports())
