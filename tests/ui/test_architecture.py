"""Layering rules: widgets never import pjsua2; only the ui package uses QtWidgets."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "softphone"


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_ui_package_loads_without_pjsua2():
    code = ("import pkgutil, sys, importlib, softphone.ui as ui\n"
            "for m in pkgutil.iter_modules(ui.__path__):\n"
            "    importlib.import_module('softphone.ui.' + m.name)\n"
            "bad = sorted(n for n in sys.modules if n.startswith(('pjsua2', 'softphone.sip')))\n"
            "print(bad); sys.exit(1 if bad else 0)")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_only_ui_imports_qtwidgets():
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE)
        # gui.py and selftest.py are app wiring above the ui layer.
        if rel.parts[0] == "ui" or rel.as_posix() in ("gui.py", "selftest.py"):
            continue
        if any(m.startswith("PySide6.QtWidgets") for m in imported_modules(path)):
            offenders.append(str(rel))
    assert offenders == []


def test_ui_never_imports_pjsua2_directly():
    for path in (PACKAGE / "ui").rglob("*.py"):
        assert not any(m.startswith("pjsua2") for m in imported_modules(path)), path
