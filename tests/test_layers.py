"""The layers stay honest: below cli/ nothing prints, exits, or reads argv or the environment;
`import repobus` loads neither the CLI framework nor any extra; `--version` loads nothing."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "repobus"
ADAPTERS = ("cli", "web", "mcp")
LIBRARY = sorted(
    p
    for p in SRC.rglob("*.py")
    if p.relative_to(SRC).parts[0] not in ADAPTERS and p.name != "__main__.py"
)


def _violations(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), str(path))
    found = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in ("print", "input", "exit")
        ):
            found.append(f"{node.func.id}() at line {node.lineno}")
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            pair = (node.value.id, node.attr)
            if pair in (
                ("sys", "exit"),
                ("sys", "argv"),
                ("os", "environ"),
                ("os", "getenv"),
                ("sys", "stdout"),
                ("sys", "stderr"),
            ):
                found.append(f"{pair[0]}.{pair[1]} at line {node.lineno}")
        if isinstance(node, ast.Import | ast.ImportFrom):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
            )
            for name in names:
                if name.split(".")[0] in (
                    "click",
                    "starlette",
                    "uvicorn",
                    "mcp",
                ) or name.startswith(("repobus.cli", "repobus.web", "repobus.mcp")):
                    found.append(f"imports {name} at line {node.lineno}")
    return found


ALLOWED = {
    # the one module that runs git passes the process environment on to git
    ("gitcmd.py", "os.environ"),
}


@pytest.mark.parametrize("path", LIBRARY, ids=lambda p: str(p.relative_to(SRC)))
def test_library_module_does_no_io_of_the_cli(path: Path) -> None:
    rel = str(path.relative_to(SRC))
    bad = [v for v in _violations(path) if (rel, v.split(" at ")[0]) not in ALLOWED]
    assert bad == [], f"{rel}: {bad}"


def _loaded_after(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", code + "\nimport sys\nprint(' '.join(sys.modules))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return set(out.split())


def test_import_repobus_loads_no_framework() -> None:
    mods = _loaded_after("import repobus")
    assert not {"click", "msgspec", "starlette", "uvicorn", "mcp", "repobus.cli"} & mods


def test_version_loads_nothing_heavy() -> None:
    mods = _loaded_after(
        "import sys\nsys.argv=['repobus','--version']\nfrom repobus.cli import main\nmain()"
    )
    assert not {"click", "msgspec", "typing", "dataclasses", "subprocess", "repobus.bus"} & mods


def test_claim_path_loads_neither_click_nor_msgspec(tmp_path: Path) -> None:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    code = (
        "import sys\nfrom repobus.cli import main\n"
        f"rc = main(['claim', '--task', 'T-1', '--agent', 'a1', '--repo', {str(tmp_path)!r}])\n"
        "assert rc == 0, rc"
    )
    mods = _loaded_after(code)
    assert not {"click", "msgspec"} & mods
