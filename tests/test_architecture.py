"""The package's shape, enforced: the layers of pyproject.toml (import-linter), no import cycle, imports at module
level (a function-level import of the package would only hide a cycle), and no module over 400 lines."""

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "raml_utils"
MAX_LINES = 400


def modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def test_the_layers_and_acyclic_contracts_of_pyproject_hold():
    lint_imports = Path(sys.executable).parent / "lint-imports"  # import-linter's command, beside this Python
    done = subprocess.run([str(lint_imports), "--no-cache"], cwd=PACKAGE.parent, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "Contracts: 2 kept, 0 broken." in done.stdout


def test_the_package_imports_itself_only_at_module_level():
    inside = []
    for path in modules():
        tree = ast.parse(path.read_text())
        top = {id(node) for node in tree.body}
        for node in ast.walk(tree):
            internal = isinstance(node, ast.ImportFrom) and (node.level > 0 or (node.module or "").startswith("raml_utils"))
            if internal and id(node) not in top:
                inside.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno}")
    assert not inside, f"function-level imports of raml_utils (move them to the top): {inside}"


def test_no_module_is_longer_than_400_lines():
    long = {str(p.relative_to(PACKAGE.parent)): n for p in modules() if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not long, f"modules over {MAX_LINES} lines (split them by concept): {long}"
