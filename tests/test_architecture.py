"""The package layout holds: imports point downward, no cycle, one export path.

bertlab's packages sit in tiers (../shared/STYLE.md):

    pretrained < text, data, config < layers < models < training, decoding < export < tasks, pretraining
    < serving

A module may import only from its own package or from a package of a lower
tier, so the dependency graph between packages is acyclic by construction;
inside a package, module-level imports must not form a cycle either. Imports
sit at module level (in bertlab/ and apps/), except an optional heavy
dependency deferred on purpose, which says so in a `# deferred:` comment on the
line above. SavedModels are
written only by `bertlab/export`, and the export sequence
(`bertlab.export.publish`) is called from one place, the driver.
"""

import ast
import pathlib

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]
PACKAGE = REPO / "bertlab"
TIERS = {"storage": -1, "pretrained": -1, "text": 0, "data": 0, "config": 0, "layers": 1, "models": 2, "training": 3,
         "decoding": 3, "export": 4, "tasks": 5, "pretraining": 5, "serving": 6}
SAVED_MODEL_WRITERS = ("tf.saved_model.save", "saved_model.save", "ExportArchive", "write_out")


def _modules():
    """`{dotted module name: (path, parsed tree)}` of every module of bertlab."""
    modules = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(REPO).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = (path, ast.parse(path.read_text("utf-8"), str(path)))
    return modules


MODULES = _modules()


def _package(module):
    """`bertlab.tasks.driver` -> "tasks"; `bertlab.config` -> "config"; `bertlab` -> ""."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _imports(tree, module_level_only=False):
    """`(node, imported bertlab module names)` of the tree's imports."""
    nodes = tree.body if module_level_only else ast.walk(tree)
    for node in nodes:
        if isinstance(node, ast.Import):
            yield node, [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # `from bertlab.models import bert_checkpoint` imports a module or a name.
            names = [f"{node.module}.{a.name}" for a in node.names]
            yield node, [n if n in MODULES else node.module for n in names]


def test_the_tiers_name_every_package():
    packages = {_package(m) for m in MODULES} - {""}
    assert packages == set(TIERS), "a new package needs a tier in this test and in STYLE.md"


def test_imports_point_downward():
    wrong = []
    for module, (path, tree) in MODULES.items():
        source = _package(module)
        for node, names in _imports(tree):
            for name in names:
                target = _package(name) if name.startswith("bertlab.") else None
                if target is None or target == source or source == "":
                    continue
                if TIERS[target] >= TIERS[source]:
                    wrong.append(f"{path.relative_to(REPO)}:{node.lineno} ({source}) imports "
                                 f"{name} ({target})")
    assert not wrong, "imports that do not point downward:\n" + "\n".join(wrong)


def test_no_import_cycle_between_modules():
    graph = {module: {n for _, names in _imports(tree, module_level_only=True) for n in names
                      if n in MODULES and n != module}
             for module, (_, tree) in MODULES.items()}
    state = {}

    def visit(module, stack):
        state[module] = "open"
        for target in sorted(graph[module]):
            if state.get(target) == "open":
                cycle = stack[stack.index(target):] + [target]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if target not in state:
                visit(target, stack + [target])
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])


def test_imports_are_at_module_level_unless_deferred_on_purpose():
    inner = []
    apps = {str(p): (p, ast.parse(p.read_text("utf-8"))) for p in (REPO / "apps").rglob("*.py")}
    for module, (path, tree) in {**MODULES, **apps}.items():
        lines = path.read_text("utf-8").splitlines()
        top = {id(node) for node in tree.body}
        for node in ast.walk(tree):
            if not isinstance(node, (ast.Import, ast.ImportFrom)) or id(node) in top:
                continue
            if isinstance(node, ast.ImportFrom) and node.level:
                continue
            above = lines[node.lineno - 2].strip() if node.lineno > 1 else ""
            if not above.startswith("# deferred:"):
                inner.append(f"{path.relative_to(REPO)}:{node.lineno}")
    assert not inner, ("imports inside functions without a `# deferred:` comment above:\n"
                       + "\n".join(inner))


def _calls(tree):
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            yield node, ast.unparse(node.func)


def test_saved_models_are_written_only_by_the_export_package():
    writers = []
    for module, (path, tree) in MODULES.items():
        if _package(module) == "export":
            continue
        for node, name in _calls(tree):
            if name.endswith(SAVED_MODEL_WRITERS):
                writers.append(f"{path.relative_to(REPO)}:{node.lineno} {name}")
    assert not writers, "SavedModel writers outside bertlab/export:\n" + "\n".join(writers)


def test_the_export_sequence_is_called_from_one_place():
    callers = {name: [] for name in ("publish", "export_new_version", "update_models_config",
                                     "prepare_for_serving")}
    for path in sorted([*PACKAGE.rglob("*.py"), *(REPO / "apps").rglob("*.py")]):
        for node, name in _calls(ast.parse(path.read_text("utf-8"))):
            short = name.rsplit(".", 1)[-1]
            if short in callers:
                callers[short].append(str(path.relative_to(REPO)))
    assert callers["publish"] == ["bertlab/tasks/driver.py"]
    for step in ("export_new_version", "update_models_config", "prepare_for_serving"):
        assert set(callers[step]) == {"bertlab/export/publish.py"}, (step, callers[step])
