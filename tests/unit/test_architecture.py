"""Architecture rules enforced by tests (as SAELens does with its linter)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CORE = REPO / "core"
# The only libraries core may import inside functions: each adds >= 0.3 s to import time (measured:
# torch 1.1 s, transformers 1-4 s, sklearn 1.1 s, scipy.stats 0.7 s, datasets 0.6 s, alembic with
# mako/pygments 0.4 s) or is an optional extra (ray, datasets). Everything else -- core modules, the
# standard library, numpy, pandas, pyarrow, safetensors, plotly, sqlalchemy, tqdm -- is imported at module
# level.
HEAVY = frozenset(
    {
        "torch",
        "transformers",
        "trl",
        "peft",
        "accelerate",
        "nnsight",
        "umap",
        "sklearn",
        "scipy",
        "datasets",
        "ray",
        "alembic",
        "httpx",  # with websocket: nnsight's network clients, loaded only when a trace goes to NDIF
        "websocket",
    }
)
# Never imported by any core module at import time (checked by importing every one of them).
NOT_AT_IMPORT = (
    "torch",
    "transformers",
    "nnsight",
    "umap",
    "trl",
    "peft",
    "accelerate",
    "sklearn",
    "scipy",
    "streamlit",
)


def _imported_after(stmt: str) -> set[str]:
    code = f"import sys; {stmt}; print(','.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
    return set(out.stdout.strip().split(","))


def test_records_and_analysis_modules_import_without_torch():
    mods = _imported_after(
        "import core.config, core.capture.trajectory, core.capture.export, core.capture.store, "
        "core.jsonl, core.capture.templates, core.probes.linear, core.explore.pooling, "
        "core.evals.stats, core.evals.judges, core.data"
    )
    heavy = {"torch", "transformers", "nnsight", "umap", "trl", "streamlit"} & mods
    assert not heavy, f"imported heavy packages at import time: {heavy}"


def test_no_core_module_imports_a_heavy_library_at_import_time():
    """Every core module (the CLI included) imports without torch & co: they load inside the functions that
    use them. Moving an import to module level can pull one in transitively; this finds it."""
    names = sorted(_module_name(p) for p in _core_files() if "migrations" not in p.parts)
    mods = _imported_after("import " + ", ".join(names))
    assert not set(NOT_AT_IMPORT) & mods, f"imported at import time: {sorted(set(NOT_AT_IMPORT) & mods)}"


def test_core_never_imports_streamlit():
    offenders = [
        str(p.relative_to(REPO))
        for p in (REPO / "core").rglob("*.py")
        if any(
            line.lstrip().startswith(("import streamlit", "from streamlit"))
            for line in p.read_text().splitlines()
        )
    ]
    assert offenders == []


def test_ruff_banned_api_and_import_contracts():
    """streamlit/pickle banned in core (ruff TID251) and core -> app/streamlit forbidden (import-linter)."""
    bin_dir = Path(sys.executable).parent
    ruff = subprocess.run(
        [str(bin_dir / "ruff"), "check", "--select", "TID251", "core"],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert ruff.returncode == 0, ruff.stdout + ruff.stderr
    lint = subprocess.run([str(bin_dir / "lint-imports")], capture_output=True, text=True, cwd=REPO)
    assert lint.returncode == 0, lint.stdout[-2000:] + lint.stderr[-2000:]


def test_whole_codebase_passes_the_configured_ruff_rules():
    """All of pyproject's ruff rules (pyflakes, bugbear, isort, pyupgrade, banned APIs) over every package."""
    ruff = subprocess.run(
        [str(Path(sys.executable).parent / "ruff"), "check", "core", "app", "tests", "benchmarks"],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert ruff.returncode == 0, ruff.stdout[-3000:] + ruff.stderr


# ---- core/ import graph, checked on the syntax tree --------------------------------------------------------
def _core_files() -> list[Path]:
    return sorted(CORE.rglob("*.py"))


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _absolute(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    """The absolute module a ``from ... import`` names (relative imports resolved against ``module``)."""
    if not node.level:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _module_level_imports(body: list[ast.stmt]) -> list[ast.Import | ast.ImportFrom]:
    """Imports that run when the module is imported: top level, and inside top-level if / try / with blocks,
    but not under ``if TYPE_CHECKING:`` (annotations only; its ``else`` branch does run)."""
    out: list[ast.Import | ast.ImportFrom] = []
    for node in body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            out.append(node)
        elif isinstance(node, ast.If):
            out += [] if _is_type_checking(node.test) else _module_level_imports(node.body)
            out += _module_level_imports(node.orelse)
        elif isinstance(node, ast.Try | ast.TryStar):
            for block in (node.body, node.orelse, node.finalbody, *[h.body for h in node.handlers]):
                out += _module_level_imports(block)
        elif isinstance(node, ast.With):
            out += _module_level_imports(node.body)
    return out


def core_import_graph(files: dict[str, str]) -> dict[str, set[str]]:
    """``{module: core modules it imports at module level}`` for ``{module name: source}``.

    ``import a.b`` and ``from a.b import c`` count as an edge to ``a.b`` -- or to ``a.b.c`` when ``c`` is a
    module. Importing ``a.b.c`` also runs the package ``a.b``'s ``__init__`` first, but only that file's own
    imports count as its edges (``from a.b import name`` of a re-exported name is an edge to ``a.b``, which
    then has its own)."""
    graph: dict[str, set[str]] = {}
    for module, source in files.items():
        is_package = any(m.startswith(module + ".") for m in files)
        edges: set[str] = set()
        for node in _module_level_imports(ast.parse(source).body):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                base = _absolute(node, module, is_package)
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in files else base for a in node.names]
            for target in targets:
                while (
                    target and target not in files
                ):  # `import core.x.y` of an attribute path -> nearest module
                    target = target.rpartition(".")[0]
                if target and target != module:
                    edges.add(target)
        graph[module] = edges
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as ``[a, b, ..., a]``, or None when the graph is acyclic (iterative DFS)."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    for root in sorted(graph):
        if root in state:
            continue
        path, stack = [root], [iter(sorted(graph[root]))]
        state[root] = 1
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                state[path.pop()] = 2
                stack.pop()
            elif state.get(nxt) == 1:
                return path[path.index(nxt) :] + [nxt]
            elif nxt not in state:
                state[nxt] = 1
                path.append(nxt)
                stack.append(iter(sorted(graph.get(nxt, ()))))
    return None


def function_level_imports(source: str, module: str, is_package: bool = False) -> list[tuple[int, str]]:
    """``(line, top-level package)`` of every import statement inside a function or method body."""
    out = set()
    for fn in ast.walk(ast.parse(source)):
        if isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
            for node in ast.walk(fn):
                if isinstance(node, ast.Import):
                    out |= {(node.lineno, a.name.split(".")[0]) for a in node.names}
                elif isinstance(node, ast.ImportFrom):
                    out.add((node.lineno, _absolute(node, module, is_package).split(".")[0]))
    return sorted(out)


def _core_sources() -> dict[str, str]:
    return {_module_name(p): p.read_text() for p in _core_files()}


def test_core_module_level_import_graph_is_acyclic():
    graph = core_import_graph(_core_sources())
    assert len(graph) > 100 and sum(map(len, graph.values())) > 300  # the parse found the real graph
    cycle = find_cycle(graph)
    assert cycle is None, (
        "import cycle among core modules: "
        + " -> ".join(cycle or [])
        + ". Move what both sides need into a lower module, or import it under TYPE_CHECKING."
    )


def test_function_level_imports_are_only_heavy_third_party_libraries():
    """No core module is imported inside a function (that hides cycles); other libraries are imported at
    module level unless they are in HEAVY."""
    sources = _core_sources()
    core_inside, light_inside = [], []
    for module, source in sources.items():
        is_package = any(m.startswith(module + ".") for m in sources)
        for line, top in function_level_imports(source, module, is_package):
            if top == "core":
                core_inside.append(f"{module}:{line}")
            elif top not in HEAVY:
                light_inside.append(f"{module}:{line} ({top})")
    assert core_inside == [], (
        f"import core modules at module level (TYPE_CHECKING for annotations): {core_inside}"
    )
    assert light_inside == [], f"only {sorted(HEAVY)} may be imported inside functions: {light_inside}"


def test_the_import_graph_checks_catch_what_they_are_for():
    files = {
        "core": "",
        "core.a": "from core import b\n",
        "core.b": "import core.c.d\n",
        "core.c": "",
        "core.c.d": "from ..a import x\n",  # relative import, resolved
        "core.e": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from core.a import x\n"
        "try:\n    import core.b\nexcept ImportError:\n    pass\n",
    }
    graph = core_import_graph(files)
    assert (
        graph["core.a"] == {"core.b"} and graph["core.b"] == {"core.c.d"} and graph["core.c.d"] == {"core.a"}
    )
    assert graph["core.e"] == {"core.b"}  # TYPE_CHECKING excluded, try-block included
    assert find_cycle(graph) == ["core.a", "core.b", "core.c.d", "core.a"]
    del files["core.c.d"]
    assert find_cycle(core_import_graph(files)) is None
    src = (
        "import os\ndef f():\n    import torch\n    from core.x import y\n"
        "    class C:\n        def g(self):\n            from . import z\n"
    )
    assert function_level_imports(src, "core.pkg.mod") == [(3, "torch"), (4, "core"), (7, "core")]


# ---- app/ rules, checked on the syntax tree (replaces the old substring test for nnsight blocks) -----------
APP = REPO / "app"
NNSIGHT_BLOCKS = {
    "trace",
    "generate",
    "session",
}  # `with lm.trace(...)`, `with lm.generate(...)`, `with lm.session()`
MAX_PAGE_STATEMENTS = 40  # module-level statements of a page, imports and docstring excluded
# nothing in a page may define, loop, catch, branch inline or build strings/collections: that is panel or
# helper work
PAGE_FORBIDDEN = (
    ast.FunctionDef,
    ast.AsyncFunctionDef,
    ast.ClassDef,
    ast.Lambda,
    ast.For,
    ast.AsyncFor,
    ast.While,
    ast.Try,
    ast.TryStar,
    ast.ListComp,
    ast.SetComp,
    ast.DictComp,
    ast.GeneratorExp,
    ast.NamedExpr,
    ast.IfExp,
    ast.JoinedStr,
    ast.Match,
    ast.Global,
    ast.Nonlocal,
    ast.Delete,
    ast.AugAssign,
)


def _app_modules() -> list[Path]:
    return sorted(p for p in APP.rglob("*.py") if ".venv" not in p.parts)


def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), filename=str(path))


def session_state_uses(tree: ast.AST) -> list[int]:
    """Lines that touch ``session_state``: ``st.session_state…`` attribute access or importing the name."""
    lines = [n.lineno for n in ast.walk(tree) if isinstance(n, ast.Attribute) and n.attr == "session_state"]
    lines += [
        n.lineno
        for n in ast.walk(tree)
        if isinstance(n, ast.ImportFrom) and any(a.name == "session_state" for a in n.names)
    ]
    return sorted(lines)


def nnsight_blocks(tree: ast.AST) -> list[int]:
    """Lines of ``with X.trace(...)`` / ``with X.generate(...)`` / ``with X.session(...)`` blocks."""
    return [
        n.lineno
        for n in ast.walk(tree)
        if isinstance(n, ast.With | ast.AsyncWith)
        for item in n.items
        if isinstance(item.context_expr, ast.Call)
        and isinstance(item.context_expr.func, ast.Attribute)
        and item.context_expr.func.attr in NNSIGHT_BLOCKS
    ]


def _plain_target(t: ast.expr) -> bool:
    return isinstance(t, ast.Name) or (
        isinstance(t, ast.Tuple | ast.List) and all(_plain_target(e) for e in t.elts)
    )


def _simple(stmt: ast.stmt) -> bool:
    """A call, a call's result assigned to plain names, or a ``with`` block (tabs, columns, containers) of
    those."""
    if isinstance(stmt, ast.Expr):
        return isinstance(stmt.value, ast.Call)
    if isinstance(stmt, ast.Assign | ast.AnnAssign):
        targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
        return isinstance(stmt.value, ast.Call) and all(_plain_target(t) for t in targets)
    if isinstance(stmt, ast.With):
        return all(isinstance(i.context_expr, ast.Call | ast.Name) for i in stmt.items) and all(
            _simple(s) for s in stmt.body
        )
    return False


def thin_page_problems(tree: ast.Module) -> list[str]:
    """Why a page is not a thin layout script (empty list: it is).

    A page is imports, a docstring, and a short sequence of calls to panels / st layout: expression statements
    that are calls, call results assigned to plain names, ``with`` blocks of those, and one-level guards
    ``if <names / comparisons, no calls>: <calls>`` (typically ``if x is None: st.stop()``) without elif/else.
    Anywhere in the page: no def / class / lambda, loops, try, comprehensions, inline ``a if c else b``,
    f-strings, walrus or augmented assignment -- decisions belong in core or tested app helpers.
    """
    problems = [
        f"line {n.lineno}: {type(n).__name__}" for n in ast.walk(tree) if isinstance(n, PAGE_FORBIDDEN)
    ]
    body = list(tree.body)
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]  # the docstring
    statements = [s for s in body if not isinstance(s, ast.Import | ast.ImportFrom)]
    for s in statements:
        if isinstance(s, ast.If):
            if any(isinstance(n, ast.Call) for n in ast.walk(s.test)):
                problems.append(f"line {s.lineno}: `if` tests a call (decide in a panel or helper)")
            if s.orelse:
                problems.append(f"line {s.lineno}: `if` with elif/else")
            problems += [
                f"line {b.lineno}: nested or non-call statement inside `if`" for b in s.body if not _simple(b)
            ]
        elif not _simple(s):
            problems.append(
                f"line {s.lineno}: {type(s).__name__} is not a call, an assignment of a call or a "
                "`with` block of calls"
            )
    if len(statements) > MAX_PAGE_STATEMENTS:
        problems.append(f"{len(statements)} statements (a page is at most {MAX_PAGE_STATEMENTS})")
    return problems


def test_session_state_only_in_state_module():
    """app/state.py owns session state; every other module goes through its typed accessors."""
    offenders = {
        str(p.relative_to(REPO)): lines
        for p in _app_modules()
        if p != APP / "state.py"
        if (lines := session_state_uses(_tree(p)))
    }
    assert offenders == {}, f"use typed accessors in app/state.py instead of st.session_state: {offenders}"


def test_pages_are_thin_layout_scripts():
    pages = sorted((APP / "app_pages").glob("*.py"))
    assert len(pages) >= 8
    offenders = {p.name: probs for p in pages if (probs := thin_page_problems(_tree(p)))}
    assert offenders == {}, offenders


def test_no_nnsight_blocks_in_app():
    """`with lm.trace()/generate()/session()` blocks live in core/ (found on the syntax tree, not by
    substring)."""
    offenders = {
        str(p.relative_to(REPO)): lines for p in _app_modules() if (lines := nnsight_blocks(_tree(p)))
    }
    assert offenders == {}, f"keep nnsight blocks in core/: {offenders}"


def test_the_ast_checks_catch_what_they_are_for():
    """The checkers themselves: each rule flags a typical violation and passes a thin page."""
    thin = ast.parse(
        '"""Doc."""\nimport streamlit as st\nfrom app import w\nst.title("T")\nx = w.pick()\n'
        "if x is None:\n    st.stop()\na, b = st.tabs(['A', 'B'])\nwith a:\n    w.panel(x)\n"
    )
    assert thin_page_problems(thin) == []
    fat = {  # shapes of the pre-issue-13 explore / probes / steer / audit / jobs pages
        "try": "try:\n    m = f()\nexcept Exception:\n    st.stop()\n",
        "nested if": "if a is not None:\n    if b:\n        f()\n",
        "elif": "if a:\n    f()\nelif b:\n    g()\n",
        "comprehension": "x = f([k for k in y])\n",
        "lambda": "x = f(format_func=lambda k: k)\n",
        "dict literal": "METHODS = {'a': 1}\n",
        "loop": "for i in range(3):\n    f(i)\n",
        "if in with": "with t:\n    j = f()\n    if j:\n        g(j)\n",
        "call in test": "if not store.query(limit=1):\n    st.stop()\n",
        "f-string": "st.caption(f'{x}')\n",
        "def": "def f():\n    pass\n",
    }
    for name, src in fat.items():
        assert thin_page_problems(ast.parse(src)), name
    assert session_state_uses(ast.parse("import streamlit as st\nx = st.session_state.get('k')\n")) == [2]
    assert session_state_uses(ast.parse("from streamlit import session_state\n")) == [1]
    assert nnsight_blocks(ast.parse("with model.lm.trace(ids) as t:\n    pass\n")) == [1]
    assert nnsight_blocks(ast.parse("with lm.generate(x, max_new_tokens=3):\n    pass\n")) == [1]
    assert nnsight_blocks(ast.parse("x = lm.generate(ids)\nwith st.spinner('…'):\n    pass\n")) == []
