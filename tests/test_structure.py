"""The package's layers, checked from the source (``ast``, nothing imported): the PyTorch models do not reach into
the runtime, quantization, training, data or engine packages, and no import hides inside a function unless it
defers something heavy (PyTorch, ONNX Runtime, an optional extra).

    python -m pytest tests/test_structure.py -q -s     # -s also prints every function-level import
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

SRC = Path(__file__).parents[1] / "src"
MODELS = ("detection", "recognition", "ops", "backbones")  # PyTorch models, for training and export only
NOT_FROM_MODELS = ("rosetta.runtime", "rosetta.quant", "rosetta.train", "rosetta.data", "rosetta.engine")
# Third-party packages worth deferring: heavy to import (PyTorch ~2 s) or an optional extra (serve, ray, search)
HEAVY = {"torch", "torchvision", "onnx", "onnxruntime", "fastapi", "starlette", "uvicorn", "prometheus_client", "ray",
         "psycopg", "selenium", "pyarrow", "safetensors.torch"}

# (module, what it imports) allowed all the same, each with its reason. None left: the PyTorch predictors and their
# ONNX Runtime / int8 engines live in rosetta.train.predict, int8 building in rosetta.quant (issue 25).
MODELS_REACHING_OUT: set[tuple[str, str]] = set()
HIDDEN_IN_FUNCTIONS = {
    # a lazy public attribute (PEP 562): `import rosetta` stays lean for the reader's start-up (issue 25: OCR() ready
    # in 0.5 s), the search package costs ~0.15 s of imports a reader does not need
    ("rosetta", "rosetta.search"),
}


@dataclass(frozen=True)
class Imp:
    module: str  # the importing module, e.g. rosetta.engine.batch
    target: str  # the module it imports (``from X import name`` of a submodule imports X.name; of other names, X)
    line: int
    in_function: bool


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _type_checking(node: ast.If) -> bool:
    return isinstance(node.test, (ast.Name, ast.Attribute)) and "TYPE_CHECKING" in ast.unparse(node.test)


@lru_cache(maxsize=1)
def modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted((SRC / "rosetta").rglob("*.py"))}


@lru_cache(maxsize=1)
def imports() -> tuple[Imp, ...]:
    """Every import statement of every rosetta module (those under ``if TYPE_CHECKING:`` never run: skipped)."""
    known = modules()
    out: list[Imp] = []
    for name, path in known.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]

        def visit(node: ast.AST, in_function: bool) -> None:
            for child in ast.iter_child_nodes(node):
                if isinstance(child, ast.If) and _type_checking(child):
                    continue
                if isinstance(child, ast.Import):
                    out.extend(Imp(name, a.name, child.lineno, in_function) for a in child.names)
                elif isinstance(child, ast.ImportFrom):
                    base = child.module or ""
                    if child.level:  # relative: from the importing module's package
                        up = package.split(".")[:len(package.split(".")) - child.level + 1]
                        base = ".".join(up + ([base] if base else []))
                    subs = [f"{base}.{a.name}" for a in child.names if f"{base}.{a.name}" in known]
                    names = len(subs) < len(child.names)  # names defined in ``base`` itself, not submodules
                    for target in [base] * names + subs:
                        out.append(Imp(name, target, child.lineno, in_function))
                visit(child, in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)))
        visit(ast.parse(path.read_text(encoding="utf-8")), False)
    return tuple(out)


def _parents(target: str) -> list[str]:
    """``rosetta.a.b`` -> the modules importing it runs: rosetta, rosetta.a, rosetta.a.b."""
    parts = target.split(".")
    return [".".join(parts[:k]) for k in range(1, len(parts) + 1)]


@lru_cache(maxsize=None)
def heavy_loaded(target: str) -> frozenset[str]:
    """The HEAVY packages importing ``target`` imports, through module-level imports only."""
    seen: set[str] = set()
    heavy: set[str] = set()
    todo = [target]
    by_module: dict[str, list[str]] = {}
    for imp in imports():
        if not imp.in_function:
            by_module.setdefault(imp.module, []).append(imp.target)
    while todo:
        mod = todo.pop()
        for m in _parents(mod):
            if m in seen:
                continue
            seen.add(m)
            if m in HEAVY or m.split(".")[0] in HEAVY:
                heavy.add(m if m in HEAVY else m.split(".")[0])
            todo.extend(by_module.get(m, []))
    return frozenset(heavy)


def defers(imp: Imp) -> frozenset[str]:
    """The HEAVY packages a function-level import keeps out of its module's import (none: it defers nothing)."""
    return heavy_loaded(imp.target) - heavy_loaded(imp.module)


def test_the_models_do_not_import_the_runtime_quantization_training_data_or_engine():
    found = {(i.module, i.target) for i in imports()
             if i.module.split(".")[1:2] and i.module.split(".")[1] in MODELS
             and any(i.target == f or i.target.startswith(f + ".") for f in NOT_FROM_MODELS)}
    assert found <= MODELS_REACHING_OUT, f"models importing higher layers: {sorted(found - MODELS_REACHING_OUT)}"
    stale = MODELS_REACHING_OUT - found
    assert not stale, f"no longer imported, take off MODELS_REACHING_OUT: {sorted(stale)}"


def test_imports_inside_functions_only_defer_something_heavy():
    """A function-level import of a rosetta module must keep PyTorch, ONNX Runtime or an optional extra out of its
    module's own import (the CLI's ``--help`` and ``import rosetta`` stay light, tests/test_cli.py); one that defers
    nothing only hides a cycle or an untidy layer: import it at module level, or move the code that makes the cycle."""
    inner = [i for i in imports() if i.in_function]
    ours = [i for i in inner if i.target.split(".")[0] == "rosetta"]
    print(f"\n{len({(i.module, i.line) for i in inner})} function-level import statements, "
          f"{len({(i.module, i.line) for i in ours})} of rosetta modules:")
    for i in sorted(ours, key=lambda i: (i.module, i.line)):
        print(f"  {i.module}:{i.line} {i.target}  defers {', '.join(sorted(defers(i))) or 'nothing'}")
    hiding = {(i.module, i.target) for i in ours if not defers(i)}
    assert hiding <= HIDDEN_IN_FUNCTIONS, f"imports inside functions that defer nothing heavy: " \
                                          f"{sorted(hiding - HIDDEN_IN_FUNCTIONS)}"
    stale = HIDDEN_IN_FUNCTIONS - hiding
    assert not stale, f"no longer hidden, take off HIDDEN_IN_FUNCTIONS: {sorted(stale)}"


def test_the_checker_sees_imports_in_functions_and_skips_type_checking_blocks():
    """The checker itself on a known module: rosetta/__init__.py imports rosetta.ocr (ONNX Runtime, no PyTorch)
    lazily, inside ``__getattr__``, and rosetta.ocr under ``if TYPE_CHECKING`` (never run); the PyTorch predictors
    (rosetta.train.predict) load PyTorch."""
    lazy = [i for i in imports() if i.module == "rosetta" and i.target == "rosetta.ocr"]
    assert lazy and all(i.in_function for i in lazy)
    assert heavy_loaded("rosetta.ocr") == {"onnxruntime"}
    assert {"torch", "onnxruntime"} <= heavy_loaded("rosetta.train.predict")
    assert not heavy_loaded("rosetta.config") | heavy_loaded("rosetta.result")
    assert all("onnxruntime" in defers(i) for i in lazy)
    assert not heavy_loaded("rosetta.cli") and not heavy_loaded("rosetta")  # --help, --version, import rosetta
