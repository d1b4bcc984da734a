"""Choices: a setting's names read from the table its family defines (a registry, a mapping or a tuple), never copied."""
import sys
import types

import pytest

from dualgan.registry import Choices, Registry


@pytest.fixture
def tables(monkeypatch):
    mod = types.ModuleType("choices_tables_for_test")
    reg = Registry("thing")
    reg.register("b", object())
    reg.register("a", object())
    mod.REG, mod.MAP, mod.TUP = reg, {"x": 1, "y": 2}, ("p", "q")
    monkeypatch.setitem(sys.modules, mod.__name__, mod)
    return mod


@pytest.mark.parametrize("attr,names", [("REG", ["b", "a"]), ("MAP", ["x", "y"]), ("TUP", ["p", "q"])])
def test_names_are_the_tables_in_its_order(tables, attr, names):
    c = Choices(tables.__name__, attr)
    assert c.names() == list(c) == names and len(c) == len(names)
    assert all(n in c for n in names) and "zz" not in c
    assert c.check(names[0], "setting") == names[0]
    with pytest.raises(ValueError, match=r"^setting must be one of " + repr(names).replace("[", r"\[").replace("]", r"\]")
                       + r", got 'zz'$"):
        c.check("zz", "setting")


def test_a_name_added_to_the_table_is_accepted_at_once(tables):
    c = Choices(tables.__name__, "TUP")
    tables.TUP = tables.TUP + ("r",)
    tables.REG.register("c", object())
    assert "r" in c and Choices(tables.__name__, "REG").names() == ["b", "a", "c"]

