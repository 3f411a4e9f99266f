"""The project's layers and the rule between them: a package imports only packages of a lower
layer (and itself), never one above it, nor a sibling of its own layer.

`LAYERS` is the one table of the layers, bottom first; docs/architecture.md draws it. Packages
of one layer (``client`` and ``core``, ``dm`` and ``ops``, ``daemon`` and ``lab``) do not know
each other: each may import what lies below the layer, neither the other. A module at the top of
the package (``cli``, this one) counts as a package of its own.

`refusals` reads a module's source with `ast` and names each import that breaks the rule: every
``import`` and ``from ... import`` of the project, at the top, inside a function or under ``if
TYPE_CHECKING``, relative ones resolved. A name computed at run time
(``importlib.import_module``) is not seen. ``tests/test_layers.py`` runs it over the whole tree.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = "dmdelegation"

#: Bottom first; each entry one layer, of one package or of several that do not know each other.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("protocol", "layers"),  # the wire vocabulary; this table
    ("tree",),  # the DM tree model: URIs, values, ACLs, management objects
    ("client", "core"),  # the DM Client's side and its store; the model engine and store share
    ("store",),  # the engine's durable state
    ("engine",),  # the state machines and their runner
    ("dm", "ops"),  # OMA DM sessions with devices; the operator's view of the engine
    ("web",),  # the mutual-TLS delegation interface, the peer client, the admin API
    ("daemon", "lab"),  # the twistd daemon that wires it all; the lab that runs daemons
    ("commands",),  # the `dmdelegation` command's sub-commands
    ("cli",),  # the command's entry point
)

_LAYER_OF = {package: i for i, layer in enumerate(LAYERS) for package in layer}


def package_of(module: str) -> str:
    """The top-level package (or module) of the dotted ``module`` name: ``web`` for
    ``dmdelegation.web.tls``, ``""`` for the root package itself."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def imports(module: str, source: str, *, is_package: bool = False) -> Iterator[tuple[int, str]]:
    """Each import of the project in ``source`` (the text of ``module``; ``is_package`` when it
    is a package's ``__init__``), as its line and the dotted name imported; ``from dmdelegation
    import web`` yields ``dmdelegation.web``."""
    here = module.split(".") if is_package else module.split(".")[:-1]
    for node in ast.walk(ast.parse(source, filename=module)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == ROOT or alias.name.startswith(ROOT + "."):
                    yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here[: len(here) - node.level + 1]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            if name == ROOT:
                for alias in node.names:
                    yield node.lineno, f"{ROOT}.{alias.name}"
            elif name.startswith(ROOT + "."):
                yield node.lineno, name


def refusals(module: str, source: str, *, is_package: bool = False) -> list[str]:
    """One line for each import in ``source`` that breaks the layers (empty: it keeps them)."""
    source_package = package_of(module)
    found = []
    for line, name in imports(module, source, is_package=is_package):
        target = package_of(name)
        where = f"{module}:{line} imports {name}"
        if source_package == "":
            found.append(f"{where}: the root package imports nothing of its own")
        elif source_package not in _LAYER_OF:
            found.append(f"{where}: {source_package!r} is in no layer of dmdelegation.layers")
        elif target not in _LAYER_OF:
            found.append(f"{where}: {target!r} is in no layer of dmdelegation.layers")
        elif target != source_package and _LAYER_OF[target] >= _LAYER_OF[source_package]:
            same = _LAYER_OF[target] == _LAYER_OF[source_package]
            relation = "a sibling of" if same else "a layer above"
            found.append(f"{where}: {target} is {relation} {source_package}")
    return found


def check(root: Path) -> list[str]:
    """The refusals of every module under ``root`` (the ``dmdelegation`` directory)."""
    found = []
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root.parent).with_suffix("").parts
        is_package = parts[-1] == "__init__"
        module = ".".join(parts[:-1] if is_package else parts)
        found += refusals(module, path.read_text(encoding="utf-8"), is_package=is_package)
    return found
