"""The package's layers, read from the source: imports point one way (``scripts -> app -> runtime -> algorithms ->
storage -> core``: an algorithm owns its storage; ``tools`` beside ``app``; ``tasks -> core``), nothing imports a
bare top-level ``tasks`` (it is installed as ``isaac_rl.tasks``), and only ``runtime/capture.py`` knows about
capture modes."""

import ast
import os

import pytest

from tests.conftest import ROOT

# What each layer may import from this project (besides itself).
ALLOWED = {
    "isaac_rl.core": set(),
    "isaac_rl.storage": {"isaac_rl.core"},
    "isaac_rl.algorithms": {"isaac_rl.core", "isaac_rl.storage"},  # storage never imports algorithms
    "isaac_rl.runtime": {"isaac_rl.core", "isaac_rl.storage", "isaac_rl.algorithms"},
    "isaac_rl.app": {"isaac_rl.core", "isaac_rl.storage", "isaac_rl.algorithms", "isaac_rl.runtime", "isaac_rl.tools",
                     "isaac_rl.tasks"},
    "isaac_rl.tools": {"isaac_rl.core", "isaac_rl.algorithms"},
    "isaac_rl.tasks": {"isaac_rl.core"},  # the top-level tasks/ folder, installed as isaac_rl.tasks
}


def _modules():
    for top, package in (("isaac_rl", "isaac_rl"), ("tasks", "isaac_rl.tasks")):
        for folder, _, files in os.walk(os.path.join(ROOT, top)):  # not into the isaac_rl/tasks link
            for name in files:
                if name.endswith(".py"):
                    path = os.path.join(folder, name)
                    rel = os.path.relpath(path, os.path.join(ROOT, top))[:-3].replace(os.sep, ".")
                    yield f"{package}.{rel}", path


def _layer(module):
    return ".".join(module.split(".")[:2])


def _imports(path):
    for node in ast.walk(ast.parse(open(path).read())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module
        elif isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)


MODULES = sorted(_modules())


@pytest.mark.parametrize("module, path", MODULES, ids=[m for m, _ in MODULES])
def test_imports_point_one_way(module, path):
    layer = _layer(module)
    if layer == "isaac_rl.__init__":
        return
    allowed = ALLOWED[layer] | {layer}
    bad = [name for name in _imports(path) if name.split(".")[0] == "tasks"
           or (name.split(".")[0] == "isaac_rl" and _layer(name) not in allowed)]
    assert bad == [], f"{module} ({layer}) imports {bad}; {layer} may import {sorted(allowed)}"


def test_no_component_has_a_capture_mode_or_reflects_on_objects():
    """One form for eager, recorded and compiled runs: no ``capturable`` switch and no ``vars()`` walk anywhere but
    where capture is applied."""
    offenders = []
    for module, path in MODULES:
        if module == "isaac_rl.runtime.capture":
            continue
        source = open(path).read()
        offenders += [f"{module}: {word}" for word in ("capturable", "make_capturable", "vars(") if word in source]
    assert offenders == []
