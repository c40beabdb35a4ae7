"""The layers stay honest: each folder of src/repobus imports only the layers below it
(docs/architecture.md), no two modules import each other in a cycle, at most ten modules sit at
the package top level; below cli/ nothing prints, exits, or reads argv or the environment;
`import repobus` loads neither the CLI framework nor any extra; `--version` loads nothing."""

from __future__ import annotations

import ast
import re
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
    ("git/gitcmd.py", "os.environ"),
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


@pytest.mark.parametrize("remote", [False, True], ids=["local", "remote"])
def test_claim_path_loads_no_heavy_module(tmp_path: Path, remote: bool) -> None:
    """A CLI claim pays for every module it imports: neither click nor msgspec, and not
    dataclasses (which pulls in inspect, ast and tokenize: ~25 ms on every write)."""
    repo = tmp_path / "repo"
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    if remote:
        bare = tmp_path / "bare.git"
        subprocess.run(["git", "init", "-q", "--bare", str(bare)], check=True)
        subprocess.run(["git", "-C", str(repo), "remote", "add", "origin", str(bare)], check=True)
        init = "import sys\nfrom repobus.cli import main\n"
        init += f"assert main(['init', '--remote', 'origin', '--repo', {str(repo)!r}]) == 0"
        subprocess.run([sys.executable, "-c", init], check=True, capture_output=True)
    code = (
        "import sys\nfrom repobus.cli import main\n"
        f"rc = main(['claim', '--task', 'T-1', '--agent', 'a1', '--repo', {str(repo)!r}])\n"
        "assert rc == 0, rc"
    )
    mods = _loaded_after(code)
    assert not {"click", "msgspec", "dataclasses", "inspect"} & mods


# -- the order of the layers -----------------------------------------------------------------
# Lowest first; a module may import its own layer and those before it.  errors.py is the leaf
# every layer may use; the adapters (cli, web, mcp) sit side by side on top and never import
# each other.
ORDER = ("errors", "records", "git", "store", "bus", "views", "playbook", "checks")
ADAPTER_RANK = len(ORDER)


def _modules() -> dict[str, Path]:
    out = {}
    for p in SRC.rglob("*.py"):
        rel = p.relative_to(SRC.parent).with_suffix("")
        name = ".".join(rel.parts)
        out[name.removesuffix(".__init__")] = p
    return out


MODULES = _modules()


def _resolve(name: str) -> str | None:
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _imports(path: Path, runtime_only: bool) -> set[str]:
    """The repobus modules `path` imports (function-level imports included); with
    `runtime_only`, not those under `if TYPE_CHECKING:`."""
    tree = ast.parse(path.read_text(), str(path))
    skip: set[int] = set()
    if runtime_only:
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.If)
                and isinstance(node.test, ast.Name)
                and node.test.id == "TYPE_CHECKING"
            ):
                skip |= {id(d) for c in node.body for d in ast.walk(c)}
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("repobus"):
            found |= {_resolve(f"{node.module}.{a.name}") or "" for a in node.names}
        elif isinstance(node, ast.Import):
            found |= {_resolve(a.name) or "" for a in node.names if a.name.startswith("repobus")}
    return found - {"", "repobus"}


def _layer(module: str) -> tuple[str, int] | None:
    parts = module.split(".")
    if len(parts) < 2:
        return None
    head = parts[1]
    if head in ORDER:
        return head, ORDER.index(head)
    if head in ADAPTERS:
        return head, ADAPTER_RANK
    return None  # __init__ and __main__ of the package: the public entry points


def test_each_layer_imports_only_the_layers_below_it() -> None:
    wrong = []
    for module, path in sorted(MODULES.items()):
        mine = _layer(module)
        if mine is None:
            continue
        for dep in sorted(_imports(path, runtime_only=False)):
            theirs = _layer(dep)
            if theirs is None or theirs[0] == mine[0]:
                continue
            if theirs[1] >= mine[1]:
                wrong.append(f"{module} imports {dep}")
    assert wrong == []


def test_no_import_cycles() -> None:
    graph = {m: _imports(p, runtime_only=True) - {m} for m, p in MODULES.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                cycles.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    assert cycles == []


def test_at_most_ten_modules_at_the_top_level() -> None:
    top = sorted(p.name for p in SRC.glob("*.py"))
    assert len(top) <= 10, top
    folders = {p.name for p in SRC.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert folders == set(ORDER[1:]) | set(ADAPTERS), folders


# -- the store names its capabilities ---------------------------------------------------------
# Above store/ nothing asks a store what it is: it uses the members the Store protocol names
# (store/base.py).  A regex over the source is enough to keep the probes from coming back.
PROBES = re.compile(
    r"getattr\([^)\n]*store"
    r"|hasattr\([^)\n]*store"
    r"|\.store\.kind\b"
    r"|\bstore\.kind\s*[!=]="
    r"|isinstance\([^)\n]*Store\b"
    r"|\bRemoteGitStore\b"
)


def test_nothing_above_the_store_probes_it() -> None:
    found = [
        f"{p.relative_to(SRC)}:{n}: {line.strip()}"
        for p in sorted(SRC.rglob("*.py"))
        if p.relative_to(SRC).parts[0] != "store"
        for n, line in enumerate(p.read_text().splitlines(), 1)
        if PROBES.search(line)
    ]
    assert found == []
