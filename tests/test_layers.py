"""The import rules of doc/architecture.rst: lower layers never import higher ones."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "sklearn_lrnn"
ESTIMATOR_MODULES = ("low_rank", "plrnn")


def _imports():
    """(layer, module, imported module) for every import of every module, lazy ones included."""
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE.parent).with_suffix("").parts
        module = ".".join(rel[:-1] if rel[-1] == "__init__" else rel)
        package = module if rel[-1] == "__init__" else module.rpartition(".")[0]
        layer = rel[1] if len(rel) > 1 else "__init__"
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - node.level + 1]
                    prefix = ".".join(base + ([node.module] if node.module else []))
                else:
                    prefix = node.module
                # ``from . import x`` imports the module x
                targets = [prefix] if node.module else [f"{prefix}.{alias.name}" for alias in node.names]
            else:
                continue
            for target in targets:
                yield layer, module, target


def _layer(target):
    parts = target.split(".")
    return parts[1].removesuffix(".py") if len(parts) > 1 else "__init__"


IMPORTS = list(_imports())


@pytest.mark.parametrize("layer, foreign", [("_engine", "sklearn"), ("dynamics", "torch")])
def test_engine_and_dynamics_import_nothing_else_of_the_package(layer, foreign):
    bad = [(m, t) for lay, m, t in IMPORTS if lay == layer
           and ((t.startswith("sklearn_lrnn") and _layer(t) != layer) or t.split(".")[0] == foreign)]
    assert not bad, bad


def test_nothing_imports_the_estimators_or_the_package_back_up():
    bad = [(m, t) for lay, m, t in IMPORTS if lay != "__init__" and t.startswith("sklearn_lrnn")
           and (_layer(t) == "__init__" or (_layer(t) in ESTIMATOR_MODULES and lay != _layer(t)))]
    assert not bad, bad


def test_io_finds_the_estimators_through_its_registry():
    assert not [(m, t) for lay, m, t in IMPORTS if lay == "_io" and t.split(".")[0] == "importlib"]
    from sklearn_lrnn import PLRNNRegressor, StochasticLowRankRNN
    from sklearn_lrnn._io._registry import registered_class

    assert registered_class("StochasticLowRankRNN") is StochasticLowRankRNN
    assert registered_class("PLRNNRegressor") is PLRNNRegressor
