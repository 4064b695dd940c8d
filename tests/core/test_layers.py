"""The package's shape holds: no import cycle between modules, every import points down the layer
list written in the README (between the ``layers`` markers), the sandbox is imported only where
the README allows it, the engine (``gridctl/core``) never names a resource kind, and only
``gridctl/github/`` uses PyGithub.

Imports are read with ``ast`` from the source, all of them: module level, inside functions and
under ``if TYPE_CHECKING:``. Fixtures with an upward import, with a cycle and with PyGithub used
outside its layer show the checks fail.
"""

from __future__ import annotations

import ast
import re
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"


def read_layers(readme: Path = README) -> tuple[list[list[str]], list[str]]:
    """(layers from top to bottom, each a list of module prefixes; who may import the sandbox)."""
    text = readme.read_text()
    block = re.search(r"<!-- layers -->\s*```[a-z]*\n(.*?)```\s*<!-- /layers -->", text, re.S)
    assert block, "README.md has no layer list between <!-- layers --> and <!-- /layers -->"
    layers: list[list[str]] = []
    sandbox_users: list[str] = []
    for line in block.group(1).splitlines():
        if not line.strip():
            continue
        if line.startswith("sandbox users:"):
            sandbox_users = line.split(":", 1)[1].split()
            continue
        name, _, rest = line.partition(" ")
        modules = [w for w in rest.split() if w.startswith("gridctl")]
        assert modules, f"layer line without modules: {line!r}"
        # a folder is a package and everything in it; a .py file is that one module
        layers.append([m.rstrip("/").removesuffix("/__init__.py").removesuffix(".py").replace("/", ".") + ("" if m.endswith(".py") else ".*") for m in modules])
    return layers, sandbox_users


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(root: Path, path: Path, known: set[str]) -> list[tuple[str, int]]:
    """Every gridctl module ``path`` imports (resolved; ``from pkg import mod`` is ``pkg.mod``)."""
    name = module_name(root, path)
    is_pkg = path.name == "__init__.py"
    tree = ast.parse(path.read_text(), str(path))
    out: list[tuple[str, int]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.extend((a.name, node.lineno) for a in node.names if a.name.split(".")[0] == "gridctl")
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_pkg else name.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "gridctl":
                continue
            subs = [f"{target}.{a.name}" for a in node.names if f"{target}.{a.name}" in known]
            if subs:
                out.extend((s, node.lineno) for s in subs)
            if len(subs) < len(node.names):
                out.append((target, node.lineno))
    return out


def graph(root: Path) -> dict[str, list[tuple[str, int]]]:
    files = sorted((root / "gridctl").rglob("*.py"))
    known = {module_name(root, f) for f in files}
    return {module_name(root, f): [(t, ln) for t, ln in imports_of(root, f, known) if t in known] for f in files}


def cycles(g: dict[str, list[tuple[str, int]]]) -> list[list[str]]:
    """Strongly connected components with more than one module (or a self-import)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        work = [(v, iter([t for t, _ in g.get(v, [])]))]
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        while work:
            node, it = work[-1]
            for w in it:
                if w not in index:
                    index[w] = low[w] = counter[0]
                    counter[0] += 1
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter([t for t, _ in g.get(w, [])])))
                    break
                if w in on:
                    low[node] = min(low[node], index[w])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    comp = []
                    while True:
                        w = stack.pop()
                        on.discard(w)
                        comp.append(w)
                        if w == node:
                            break
                    if len(comp) > 1 or any(t == node for t, _ in g.get(node, [])):
                        out.append(sorted(comp))

    for v in sorted(g):
        if v not in index:
            visit(v)
    return out


def layer_of(module: str, layers: list[list[str]]) -> int | None:
    best: tuple[int, int] | None = None  # (prefix length, layer)
    for i, entries in enumerate(layers):
        for entry in entries:
            p = entry.removesuffix(".*")
            hit = module == p or (entry.endswith(".*") and module.startswith(p + "."))
            if hit and (best is None or len(p) > best[0]):
                best = (len(p), i)
    return None if best is None else best[1]


def violations(root: Path, readme: Path) -> list[str]:
    layers, sandbox_users = read_layers(readme)
    g = graph(root)
    out = [f"import cycle: {' <-> '.join(c)}" for c in cycles(g)]
    for mod, targets in sorted(g.items()):
        mine = layer_of(mod, layers)
        if mine is None:
            out.append(f"{mod}: in no layer of the README's list")
            continue
        for target, line in targets:
            theirs = layer_of(target, layers)
            if theirs is not None and theirs < mine:
                out.append(f"{mod}:{line} imports {target}, a layer above it")
            allowed = mod.startswith("gridctl.sandbox") or any(mod == u or mod.startswith(u + ".") for u in sandbox_users)
            if target.startswith("gridctl.sandbox") and not allowed:
                out.append(f"{mod}:{line} imports {target}; only {', '.join(sandbox_users)} may")
    return out


def test_the_package_has_no_cycle_and_imports_only_downward():
    problems = violations(ROOT, README)
    assert problems == [], "\n".join(problems)


def test_every_package_is_in_a_layer():
    layers, _ = read_layers()
    assert len(layers) >= 8
    for pkg in sorted(p for p in (ROOT / "gridctl").iterdir() if p.is_dir() and (p / "__init__.py").exists()):
        assert layer_of(f"gridctl.{pkg.name}", layers) is not None, pkg.name


def _fixture(tmp_path: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(textwrap.dedent(text))
    return tmp_path


_README = """\
# x
<!-- layers -->
```
top     gridctl/top/
bottom  gridctl/bottom/ gridctl/__init__.py
sandbox gridctl/sandbox/
sandbox users: gridctl.top.wiring
```
<!-- /layers -->
"""


def test_an_upward_import_fails_the_check(tmp_path):
    root = _fixture(tmp_path, {
        "README.md": _README,
        "gridctl/__init__.py": "",
        "gridctl/top/__init__.py": "from ..bottom import low\n",
        "gridctl/bottom/__init__.py": "",
        "gridctl/bottom/low.py": "X = 1\n",
        "gridctl/bottom/bad.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ..top import thing\n",
        "gridctl/top/thing.py": "",
        "gridctl/sandbox/__init__.py": "",
    })
    problems = violations(root, root / "README.md")
    assert problems == ["gridctl.bottom.bad:3 imports gridctl.top.thing, a layer above it"]


def test_a_cycle_and_a_stray_sandbox_import_fail_the_check(tmp_path):
    root = _fixture(tmp_path, {
        "README.md": _README,
        "gridctl/__init__.py": "",
        "gridctl/top/__init__.py": "",
        "gridctl/top/a.py": "def f():\n    from . import b\n",
        "gridctl/top/b.py": "from .a import f\n",
        "gridctl/top/wiring.py": "from ..sandbox import emu\n",
        "gridctl/top/other.py": "import gridctl.sandbox.emu\n",
        "gridctl/bottom/__init__.py": "",
        "gridctl/sandbox/__init__.py": "",
        "gridctl/sandbox/emu.py": "",
    })
    problems = violations(root, root / "README.md")
    assert "import cycle: gridctl.top.a <-> gridctl.top.b" in problems
    assert "gridctl.top.other:1 imports gridctl.sandbox.emu; only gridctl.top.wiring may" in problems
    assert len(problems) == 2, problems


#: where PyGithub (the package ``github``) may be imported: gridctl's GitHub layer, and the
#: sandbox's test helper that hands tests a real PyGithub client
PYGITHUB_HOMES = ("gridctl.github", "gridctl.sandbox.testing")


def pygithub_uses(root: Path) -> list[str]:
    """Every use of PyGithub outside ``gridctl/github/``: an import of the ``github`` package
    (``import github...``, ``from github... import``, ``importlib.import_module("github...")``)
    anywhere but :data:`PYGITHUB_HOMES`, and any ``.gh`` attribute (an AccountClient's
    ``Github``) outside ``gridctl/github/``. A relative ``from .. import github`` is gridctl's
    own package, not PyGithub."""

    def is_pygithub(name: str | None) -> bool:
        return (name or "").split(".")[0] == "github"

    out: list[tuple[str, int, str]] = []
    for path in sorted((root / "gridctl").rglob("*.py")):
        mod = module_name(root, path)
        in_layer = mod == "gridctl.github" or mod.startswith("gridctl.github.")
        may_import = any(mod == h or mod.startswith(h + ".") for h in PYGITHUB_HOMES)
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names if is_pygithub(a.name)]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""] if node.level == 0 and is_pygithub(node.module) else []
            elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
                fn = node.func
                called = fn.attr if isinstance(fn, ast.Attribute) else fn.id if isinstance(fn, ast.Name) else ""
                arg = node.args[0].value
                names = [arg] if called in ("import_module", "__import__") and isinstance(arg, str) and is_pygithub(arg) else []
            elif isinstance(node, ast.Attribute) and node.attr == "gh" and not in_layer:
                out.append((mod, node.lineno, "uses .gh (PyGithub)"))
                continue
            else:
                continue
            if names and not may_import:
                out.append((mod, node.lineno, f"imports {names[0]} (PyGithub)"))
    return [f"{mod}:{line} {what}; only gridctl/github/ may" for mod, line, what in sorted(out)]


def test_only_the_github_layer_uses_pygithub():
    """The README's promise: gridctl/github/ is the only code that talks to PyGithub."""
    problems = pygithub_uses(ROOT)
    assert problems == [], "\n".join(problems)


def test_a_pygithub_use_outside_the_github_layer_fails_the_check(tmp_path):
    root = _fixture(tmp_path, {
        "gridctl/__init__.py": "",
        "gridctl/github/__init__.py": "",
        "gridctl/github/client.py": "from github import Github\nimport github.Auth\ndef f(c):\n    return c.gh\n",
        "gridctl/sandbox/__init__.py": "",
        "gridctl/sandbox/testing.py": "def pygithub():\n    from github import Github\n",
        "gridctl/core/__init__.py": "from .. import github\nfrom ..github import client\nimport gridctl.github.client\n",
        "gridctl/core/a.py": "def f():\n    from github.GithubException import GithubException\n",
        "gridctl/core/b.py": "import os, github\n",
        "gridctl/core/c.py": "def f(client):\n    return client.gh.get_repo('o/r')\n",
        "gridctl/core/d.py": "import importlib\nX = importlib.import_module('github.Auth')\n",
        "gridctl/sandbox/other.py": "def f(client):\n    return client.gh\n",
    })
    assert pygithub_uses(root) == [
        "gridctl.core.a:2 imports github.GithubException (PyGithub); only gridctl/github/ may",
        "gridctl.core.b:1 imports github (PyGithub); only gridctl/github/ may",
        "gridctl.core.c:2 uses .gh (PyGithub); only gridctl/github/ may",
        "gridctl.core.d:2 imports github.Auth (PyGithub); only gridctl/github/ may",
        "gridctl.sandbox.other:2 uses .gh (PyGithub); only gridctl/github/ may",
    ]


def test_core_names_no_resource_kind():
    """The engine reaches kinds only through the contract: no string in gridctl/core equals a
    registered kind's name (``c.kind == "repo"`` and the like)."""
    from gridctl.resources import KINDS

    names = set(KINDS)
    assert {"repo", "label", "collaborator"} <= names
    found = []
    for path in sorted((ROOT / "gridctl" / "core").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in names:
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {node.value!r}")
    assert found == [], "\n".join(found)
