"""The import rule: no package of dmdelegation imports one above it (``dmdelegation.layers``)."""

from __future__ import annotations

from pathlib import Path

import dmdelegation
from dmdelegation.layers import LAYERS, check, imports, refusals

PACKAGE = Path(dmdelegation.__file__).parent


def test_no_module_imports_a_layer_above_its_own() -> None:
    assert check(PACKAGE) == []


def test_every_package_and_top_module_is_in_exactly_one_layer() -> None:
    on_disk = {p.parent.name for p in PACKAGE.glob("*/__init__.py")}
    on_disk |= {p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__"}
    tabled = [package for layer in LAYERS for package in layer]
    assert sorted(tabled) == sorted(on_disk)


def test_an_import_of_a_higher_layer_is_refused() -> None:
    source = "from dmdelegation.daemon.config import Config\n"
    assert refusals("dmdelegation.web.fabricated", source) == [
        "dmdelegation.web.fabricated:1 imports dmdelegation.daemon.config: daemon is a layer "
        "above web"
    ]


def test_a_sibling_of_the_same_layer_is_refused() -> None:
    source = "from dmdelegation.ops import metrics\n"
    assert refusals("dmdelegation.dm.fabricated", source) == [
        "dmdelegation.dm.fabricated:1 imports dmdelegation.ops: ops is a sibling of dm"
    ]


def test_imports_inside_a_function_or_for_type_checking_count() -> None:
    source = (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from dmdelegation.engine.engine import Engine\n"
        "def later() -> None:\n"
        "    import dmdelegation.web.admin\n"
    )
    assert refusals("dmdelegation.store.fabricated", source) == [
        "dmdelegation.store.fabricated:3 imports dmdelegation.engine.engine: engine is a layer "
        "above store",
        "dmdelegation.store.fabricated:5 imports dmdelegation.web.admin: web is a layer above "
        "store",
    ]


def test_every_spelling_of_an_import_is_seen() -> None:
    source = (
        "import dmdelegation.daemon.tap\n"
        "from dmdelegation import daemon, tree\n"
        "from ..daemon import config\n"
        "from . import sibling\n"
    )
    assert [name for _, name in imports("dmdelegation.web.fabricated", source)] == [
        "dmdelegation.daemon.tap",
        "dmdelegation.daemon",
        "dmdelegation.tree",
        "dmdelegation.daemon",
        "dmdelegation.web",
    ]
    assert len(refusals("dmdelegation.web.fabricated", source)) == 3


def test_a_package_init_resolves_relative_imports_from_itself() -> None:
    source = "from .tls import listen\nfrom ..daemon import tap\n"
    assert [name for _, name in imports("dmdelegation.web", source, is_package=True)] == [
        "dmdelegation.web.tls",
        "dmdelegation.daemon",
    ]


def test_imports_downward_within_the_package_and_of_other_projects_pass() -> None:
    source = (
        "import attrs\n"
        "from twisted.web.server import Site\n"
        "from dmdelegation.engine.engine import Engine\n"
        "from dmdelegation.web.tls import listen\n"
        "from dmdelegation import protocol\n"
    )
    assert refusals("dmdelegation.web.fabricated", source) == []


def test_a_package_in_no_layer_is_refused() -> None:
    source = "from dmdelegation.plugins import extra\n"
    assert refusals("dmdelegation.web.fabricated", source) == [
        "dmdelegation.web.fabricated:1 imports dmdelegation.plugins: 'plugins' is in no layer "
        "of dmdelegation.layers"
    ]
