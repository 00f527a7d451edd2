"""The package's import directions (docs/architecture.md): lower layers never import higher ones,
and no package imports another package's private module. Parsed from the source, function-level
imports included, so a lazy import cannot hide an edge."""
import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "nnsafety"

# the shared bottom layer: private modules at the package root, importable by everyone
HELPERS = {"_registry", "_validation", "_io", "_plot", "_progress", "_random", "_model"}
BASE = HELPERS | {"__version__"}
# what each top-level unit may import besides the helpers (docs/architecture.md, bottom to top)
ALLOWED = {
    "_model": set(), "_registry": set(), "_validation": set(), "_io": set(), "_plot": set(),
    "_progress": set(), "_random": set(),
    "domains": set(),
    "models": {"domains"},
    "data": {"domains"},
    "runs": {"models"},
    "augment": {"domains"},
    "corruptions": {"domains", "data"},
    "attacks": {"domains", "data", "models"},
    "metrics": {"domains", "data", "models", "corruptions"},
    "train": {"domains", "data", "models", "runs", "augment", "attacks", "metrics", "corruptions"},
    "backdoor": {"domains", "data", "models", "runs", "augment", "attacks", "metrics", "corruptions", "train"},
    "genai": {"domains", "data", "models", "runs", "augment", "attacks", "metrics", "corruptions", "train"},
    "report": {"domains", "data", "models", "runs", "augment", "attacks", "metrics", "corruptions", "train",
               "backdoor", "genai"},
    "experiments": {"domains", "data", "models", "runs", "augment", "attacks", "metrics", "corruptions", "train",
                    "backdoor", "genai"},
    "cli": {"domains", "data", "models", "runs", "augment", "attacks", "metrics", "corruptions", "train",
            "backdoor", "genai", "report", "experiments"},
    "__init__": {"runs", "report"},
}


def _imports(root=SRC):
    """(file, importing unit, imported module path as a list under nnsafety)."""
    for f in sorted(root.rglob("*.py")):
        parts = list(f.relative_to(root).with_suffix("").parts)
        pkg = parts[:-1]
        unit = parts[0]
        for node in ast.walk(ast.parse(f.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    mod = pkg[: len(pkg) - (node.level - 1)] + (node.module.split(".") if node.module else [])
                elif node.module and node.module.split(".")[0] == "nnsafety":
                    mod = node.module.split(".")[1:]
                else:
                    continue
                # `from pkg import _private` names a module too
                mods = [mod + [a.name] if a.name.startswith("_") or not mod else mod for a in node.names]
            elif isinstance(node, ast.Import):
                mods = [a.name.split(".")[1:] for a in node.names if a.name.split(".")[0] == "nnsafety"]
            else:
                continue
            for m in mods:
                if m:
                    yield f.relative_to(root), unit, m


def test_every_unit_has_a_place_in_the_layering():
    units = {p.name if p.is_dir() else p.stem for p in SRC.iterdir()
             if (p.is_dir() and (p / "__init__.py").exists()) or p.suffix == ".py"}
    assert units - set(ALLOWED) == set(), "a new top-level unit needs its row in ALLOWED and docs/architecture.md"


def test_imports_follow_the_layer_directions():
    bad = [f"{f}: {unit} -> {'.'.join(m)}" for f, unit, m in _imports()
           if m[0] != unit and m[0] not in BASE and m[0] not in ALLOWED.get(unit, set())]
    assert bad == [], "imports against docs/architecture.md:\n" + "\n".join(bad)


def test_no_package_imports_another_packages_private_module():
    bad = [f"{f}: {'.'.join(m)}" for f, unit, m in _imports()
           if m[0] != unit and any(p.startswith("_") and not p.startswith("__") for p in m[1:])]
    assert bad == [], "private modules used across packages:\n" + "\n".join(bad)


def test_the_checker_sees_a_forbidden_edge(tmp_path):
    """Negative control: lazy imports of report/ and of a private module inside train/ are seen."""
    pkg = tmp_path / "nnsafety"
    (pkg / "train").mkdir(parents=True)
    (pkg / "train" / "__init__.py").write_text("def f():\n    from ..report import audit\n    from ..metrics._common import x\n"
                                          "    from ..corruptions import _filters\n")
    edges = list(_imports(pkg))
    assert ("train", ["report"]) in [(u, m) for _, u, m in edges]
    assert ("train", ["metrics", "_common"]) in [(u, m) for _, u, m in edges]
    assert ("train", ["corruptions", "_filters"]) in [(u, m) for _, u, m in edges]
