"""The one Registry type: registration, look-up errors, per-entry options, package discovery."""
from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from dualgan.registry import Registry


def _colours():
    reg = Registry("colour")

    @reg.register("red", hex="#f00", tags=("warm",))
    def red():
        return (1, 0, 0)

    @reg.register("blue", hex="#00f", tags=("cold", "deep"))
    def blue(*, shade: float = 0.5, name: str):
        return (0, 0, shade)

    return reg, red, blue


def test_register_get_entry_and_info():
    reg, red, blue = _colours()
    assert reg.get("red") is red and reg.entry("blue").obj is blue
    assert reg.entry("red").hex == "#f00"
    with pytest.raises(AttributeError, match="no attribute or info 'size'"):
        reg.entry("red").size  # noqa: B018
    assert reg.names() == ["red", "blue"] and list(reg) == ["red", "blue"] and len(reg) == 2
    assert "red" in reg and "green" not in reg


def test_names_filter_by_equality_or_membership():
    reg, _, _ = _colours()
    assert reg.names(hex="#00f") == ["blue"]
    assert reg.names(tags="warm") == ["red"] and reg.names(tags="deep") == ["blue"]
    assert reg.names(tags="none") == []
    with pytest.raises(ValueError, match="declares"):  # a key no entry declares is a typo, not "no match"
        reg.names(missing=1)


def test_duplicate_names_are_refused_unless_it_is_the_same_object():
    reg, red, _ = _colours()
    reg.register("red", red)  # the same function again (a module imported twice): accepted
    with pytest.raises(ValueError, match=r"colour 'red' is already registered to .*red; choose another name"):
        reg.register("red", lambda: (1, 1, 1))
    for bad in ("", None, 3):
        with pytest.raises(ValueError, match="non-empty string"):
            reg.register(bad, red)


def test_unknown_name_lists_the_choices():
    reg, _, _ = _colours()
    with pytest.raises(ValueError, match=r"unknown colour 'green'; choose one of \['blue', 'red'\]"):
        reg.get("green")
    with pytest.raises(ValueError, match="unknown colour"):
        reg.entry(["red"])  # not a name at all


def test_unregister_removes_the_entry_and_returns_its_object():
    reg, red, blue = _colours()
    assert reg.unregister("red") is red
    assert reg.names() == ["blue"] and "red" not in reg
    reg.register("red", lambda: (1, 0, 0))  # the name is free again, for another object
    with pytest.raises(ValueError, match=r"unknown colour 'green'; choose one of \['blue', 'red'\]"):
        reg.unregister("green")
    assert reg.names() == ["blue", "red"]


def test_options_are_the_keyword_only_parameters():
    reg, _, _ = _colours()

    @reg.register("paint")
    class Paint:
        def __init__(self, base, *, gloss: float = 0.2, coats: int = 2):
            self.base, self.gloss, self.coats = base, gloss, coats

    assert reg.options("red") == {}
    opts = reg.options("blue")
    assert opts["shade"] == 0.5 and set(opts) == {"shade", "name"}
    assert reg.options("paint") == {"gloss": 0.2, "coats": 2}   # a class: its constructor's, positional excluded
    assert reg.check_options("paint", {"coats": 3}) == {"coats": 3}
    assert reg.check_options("paint", None) == {}
    with pytest.raises(ValueError, match=r"'paint' takes no option\(s\) \['colour', 'sheen'\]; its options are .*gloss"):
        reg.check_options("paint", {"sheen": 1, "colour": 2, "gloss": 0.1})
    with pytest.raises(ValueError, match="must be a dict"):
        reg.check_options("paint", [("gloss", 0.1)])
    with pytest.raises(ValueError, match="unknown colour"):
        reg.check_options("green", {})


def test_discovery_imports_every_public_module_of_the_package(tmp_path, monkeypatch):
    """A module dropped into the package registers itself; private modules are not imported."""
    pkg = tmp_path / "discovered_pkg_for_registry_test"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "_reg.py").write_text(textwrap.dedent("""
        from dualgan.registry import Registry
        THINGS = Registry("thing", package="discovered_pkg_for_registry_test")
    """))
    for name in ("alpha", "beta"):
        (pkg / f"{name}.py").write_text(textwrap.dedent(f"""
            from ._reg import THINGS

            @THINGS.register("{name}", kind="{name[0]}")
            def make():
                return "{name}"
        """))
    (pkg / "_hidden.py").write_text("raise RuntimeError('private modules are not imported by discovery')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        from discovered_pkg_for_registry_test._reg import THINGS

        assert "discovered_pkg_for_registry_test.alpha" not in sys.modules   # nothing imported before the first read
        assert THINGS.names() == ["alpha", "beta"]
        assert THINGS.get("beta")() == "beta" and THINGS.names(kind="a") == ["alpha"]
        assert "discovered_pkg_for_registry_test._hidden" not in sys.modules
    finally:
        for mod in [m for m in sys.modules if m.startswith("discovered_pkg_for_registry_test")]:
            del sys.modules[mod]


def test_library_registries_find_their_entries_by_discovery():
    """In a fresh interpreter: no package __init__ imports the solver modules; reading SOLVERS does."""
    code = textwrap.dedent("""
        import sys
        import dualgan.duals
        assert "dualgan.duals.lbfgsb" not in sys.modules
        from dualgan.duals import SOLVERS
        assert {"newton", "lbfgsb", "ipopt", "casadi"} <= set(SOLVERS)
        assert "dualgan.duals.lbfgsb" in sys.modules
        assert "sklearn.linear_model" not in sys.modules   # discovery leaves the private estimator module alone
        print("ok")
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


def test_every_family_is_one_registry():
    from dualgan.duals import SOLVERS
    from dualgan.games import OPTIMIZERS
    from dualgan.games.optimizers import BASE_OPTIMIZERS
    from dualgan.losses import LOSSES
    from dualgan.trust_region.radius import POLICIES

    for reg in (SOLVERS, OPTIMIZERS, BASE_OPTIMIZERS, LOSSES, POLICIES):
        assert isinstance(reg, Registry) and len(reg) > 0


def test_registered_instances_take_no_options_and_filters_are_checked():
    from dualgan.duals import SOLVERS
    from dualgan.losses import LOSSES

    for name in LOSSES.names():  # the GAN losses are registered instances
        assert LOSSES.options(name) == {}
        assert LOSSES.check_options(name, {}) == {}
        with pytest.raises(ValueError, match="takes no option"):
            LOSSES.check_options(name, {"alpha": 1})
    assert "hinge" in SOLVERS.names(losses="hinge") or SOLVERS.names(losses="hinge")
    with pytest.raises(ValueError, match="filter on one of"):
        SOLVERS.names(loss="hinge")  # a typo of losses=: an error, not an empty list
    assert ["x"] not in SOLVERS and 3 not in SOLVERS


def test_an_entrys_requirement_is_imported_or_named_and_required_info_is_checked_at_registration():
    reg = Registry("widget", required_info=("size",))
    with pytest.raises(ValueError, match=r"every widget declares \['size'\] when it is registered; 'w' does not "
                                         r"declare \['size'\]: register it with \.register\('w', size=\.\.\.\)"):
        reg.register("w", lambda: None)
    assert "w" not in reg
    reg.register("plain", lambda: None, size=1)
    reg.register("needs", lambda: None, size=1, requires="a_module_that_is_not_installed")
    reg.register("has", lambda: None, size=1, requires="math")
    reg.entry("plain").import_requirement("widget", "never raised")  # nothing declared: nothing to import
    reg.entry("has").import_requirement("widget", "never raised")
    with pytest.raises(ImportError, match="widget 'needs' needs the package 'a_module_that_is_not_installed'; "
                                          "pip install it"):
        reg.entry("needs").import_requirement("widget", "pip install it")
    assert reg.entry("plain").from_library is False  # defined in the tests, not in dualgan
    from dualgan.duals import SOLVERS

    assert all(SOLVERS.entry(name).from_library for name in SOLVERS)
