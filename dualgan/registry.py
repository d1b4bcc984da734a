"""One registry type for everything the library looks up by name.

Every family that lets a user choose something by name (dual solvers, game
optimisers, trust-region radius policies, GAN losses, sweep back ends and
jobs, trainers) keeps one :class:`Registry`. An entry is registered by the
module that defines it, with a decorator::

    from dualgan.duals import SOLVERS

    @SOLVERS.register("my_method", losses=("logistic",), bias=False)
    def solve_mine(problem, tol, max_iter, lam0, w_rtol, *, memory=10):
        ...

A registry built with ``package=`` imports every public module of that
package the first time it is read, so adding an entry to the library is adding
one file to the package. Entries may take keyword-only options of their own
(``memory=10`` above); :meth:`Registry.options` lists them with their defaults
and :meth:`Registry.check_options` refuses unknown ones by name.

A setting chosen by name elsewhere (a sweep job's ``mode``, the command
line's ``--loss``) reads the table its family checks against through a
:class:`Choices` view instead of copying the names.
"""
from __future__ import annotations

import importlib
import inspect
import pkgutil
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Callable, Iterator, Mapping

__all__ = ["Entry", "Registry", "Choices"]


@dataclass(frozen=True)
class Entry:
    """One registered thing.

    Parameters
    ----------
    name : str
        The name users pass (e.g. ``"newton"``).
    obj : object
        The registered function or class.
    info : Mapping[str, object]
        What the registering module declared about it (for a dual solver: the
        losses it handles, whether it handles a bias, the module it needs).
    """

    name: str
    obj: Any
    info: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    def __getattr__(self, key: str) -> Any:
        # ``entry.losses`` reads ``entry.info["losses"]``
        info = object.__getattribute__(self, "info")
        if key in info:
            return info[key]
        raise AttributeError(f"{type(self).__name__} {self.name!r} has no attribute or info {key!r}")

    def import_requirement(self, kind: str, hint: str) -> None:
        """Import the module the entry declared it needs at run time (info ``requires``; none when absent).

        Parameters
        ----------
        kind : str
            The registry's kind, for the message (``"dual solver"``).
        hint : str
            How to install it or what to use instead, appended to the message.

        Raises
        ------
        ImportError
            Naming the entry, the missing module and ``hint``.
        """
        requires = self.info.get("requires")
        if requires is None:
            return
        try:
            __import__(requires)
        except ImportError as exc:
            raise ImportError(f"{kind} {self.name!r} needs the package {requires!r}; {hint}") from exc

    @property
    def from_library(self) -> bool:
        """True when the registered object is defined inside dualgan (False for a user's entry).

        The certified families check the results of entries registered from outside
        the library themselves instead of relying on the entry's own certificate.
        """
        module = getattr(self.obj, "__module__", None) or ""
        return module == "dualgan" or module.startswith("dualgan.")


class Registry:
    """Named things of one kind, registered by decorator, looked up with a clear error.

    Parameters
    ----------
    kind : str
        What the registry holds, in words (``"dual solver"``); used in error messages.
    package : str or tuple of str, optional
        Package(s) whose public modules (names not starting with ``_``) are
        imported the first time the registry is read, so that each module
        registers its entries. Default None: entries register when their module
        is imported by other means.
    required_info : tuple of str, default ()
        Info every entry must declare when it is registered (a dual solver's
        ``losses`` and ``bias``); an entry without one is refused at
        registration, naming what is missing, instead of failing at its first use.

    Examples
    --------
    >>> from dualgan.registry import Registry
    >>> colours = Registry("colour")
    >>> @colours.register("red", hex="#f00")
    ... def red():
    ...     return (1, 0, 0)
    >>> colours.get("red")()
    (1, 0, 0)
    >>> colours.entry("red").hex
    '#f00'
    >>> colours.names()
    ['red']
    """

    def __init__(self, kind: str, package: str | tuple[str, ...] | None = None, required_info: tuple[str, ...] = ()):
        self.kind = kind
        self.required_info = tuple(required_info)
        self.packages = (package,) if isinstance(package, str) else tuple(package or ())
        self._entries: dict[str, Entry] = {}
        self._loaded = package is None

    # ------------------------------------------------------------------ registering
    def register(self, name: str, obj: Any = None, **info: Any):
        """Register ``obj`` under ``name`` (or, without ``obj``, return a decorator that does).

        Parameters
        ----------
        name : str
            The name users will pass; a non-empty string not yet registered.
        obj : object, optional
            The thing to register. Default None: return a decorator.
        **info
            Facts about the entry, readable as attributes of its :class:`Entry`.

        Returns
        -------
        object or callable
            ``obj`` itself, or a decorator that registers its argument and returns it unchanged.

        Raises
        ------
        ValueError
            If ``name`` is empty, not a string, or already registered to another object,
            or ``info`` lacks a key of the registry's ``required_info``.
        """
        if not isinstance(name, str) or not name:
            raise ValueError(f"a {self.kind} name must be a non-empty string, got {name!r}")
        missing = [key for key in self.required_info if key not in info]
        if missing:
            raise ValueError(f"every {self.kind} declares {list(self.required_info)} when it is registered; "
                             f"{name!r} does not declare {missing}: register it with .register({name!r}, "
                             + ", ".join(f"{key}=..." for key in self.required_info) + ")")

        def add(thing):
            old = self._entries.get(name)
            if old is not None and old.obj is not thing and _qualname(old.obj) != _qualname(thing):
                raise ValueError(f"{self.kind} {name!r} is already registered to {_qualname(old.obj)}; "
                                 f"choose another name")
            self._entries[name] = Entry(name, thing, MappingProxyType(dict(info)))
            return thing

        return add if obj is None else add(obj)

    def unregister(self, name: str) -> Any:
        """Remove the entry ``name`` (a user's entry added for a session or a test) and return its object.

        Parameters
        ----------
        name : str
            A registered name.

        Returns
        -------
        object
            The object that was registered under ``name``.

        Raises
        ------
        ValueError
            If ``name`` is not registered (the message lists the registered names).
        """
        self.entry(name)  # the error of an unknown name, with the choices
        return self._entries.pop(name).obj

    # ------------------------------------------------------------------ reading
    def _load(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        for package in self.packages:
            pkg = importlib.import_module(package)
            for mod in pkgutil.iter_modules(pkg.__path__):
                if not mod.name.startswith("_"):
                    importlib.import_module(f"{package}.{mod.name}")

    def entry(self, name: str) -> Entry:
        """The :class:`Entry` registered under ``name``.

        Parameters
        ----------
        name : str
            A registered name.

        Returns
        -------
        Entry
            The object and what was declared about it.

        Raises
        ------
        ValueError
            If ``name`` is not registered; the message lists the registered names.
        """
        self._load()
        if not isinstance(name, str) or name not in self._entries:
            raise ValueError(f"unknown {self.kind} {name!r}; choose one of {sorted(self._entries)}")
        return self._entries[name]

    def get(self, name: str) -> Any:
        """The object registered under ``name``.

        Parameters
        ----------
        name : str
            A registered name.

        Returns
        -------
        object
            The registered function or class.

        Raises
        ------
        ValueError
            If ``name`` is not registered; the message lists the registered names.
        """
        return self.entry(name).obj

    def names(self, **where: Any) -> list[str]:
        """Registered names, in registration order, whose info matches every ``key=value`` of ``where``.

        Parameters
        ----------
        **where
            Filters on the entries' info: ``value`` must equal the entry's
            value, or be contained in it when the entry's value is a tuple.

        Returns
        -------
        list of str

        Raises
        ------
        ValueError
            If a key of ``where`` is declared by no entry (a typo would otherwise select nothing).
        """
        self._load()
        known = set().union(*(e.info for e in self._entries.values())) if self._entries else set()
        unknown = sorted(set(where) - known)
        if unknown:
            raise ValueError(f"no {self.kind} declares {unknown}; filter on one of {sorted(known)}")

        def match(e: Entry) -> bool:
            for k, v in where.items():
                have = e.info.get(k)
                if isinstance(have, (tuple, list, frozenset, set)):
                    if v not in have:
                        return False
                elif have != v:
                    return False
            return True

        return [n for n, e in self._entries.items() if match(e)]

    def __contains__(self, name: object) -> bool:
        self._load()
        return isinstance(name, str) and name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        self._load()
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {self.names()})"

    # ------------------------------------------------------------------ per-entry options
    def options(self, name: str) -> dict[str, Any]:
        """The keyword-only options of the entry ``name`` with their defaults.

        For a class the options are those of its constructor; for a function,
        its own; a registered instance takes none. Required keyword-only options map to :data:`inspect.Parameter.empty`.

        Parameters
        ----------
        name : str
            A registered name.

        Returns
        -------
        dict
            ``{option: default}``.
        """
        obj = self.get(name)
        if inspect.isclass(obj):
            target = obj.__init__
        elif inspect.isfunction(obj) or inspect.ismethod(obj):
            target = obj
        else:  # a registered instance (e.g. a GAN loss): it is used as it is and takes no options
            return {}
        return {p.name: p.default for p in inspect.signature(target).parameters.values()
                if p.kind is inspect.Parameter.KEYWORD_ONLY}

    def check_options(self, name: str, options: Mapping[str, Any] | None) -> dict[str, Any]:
        """Validate user ``options`` for the entry ``name``; returns them as a new dict.

        Parameters
        ----------
        name : str
            A registered name.
        options : Mapping or None
            Option names and values; None means no options.

        Returns
        -------
        dict

        Raises
        ------
        ValueError
            If ``options`` is not a mapping, names an option the entry does not
            take, or (when the entry was registered with ``check_options=``, a
            callable taking the options as keywords and returning None or the
            options normalised) that checker refuses a value.
        """
        if options is None:
            return {}
        if not isinstance(options, Mapping):
            raise ValueError(f"options for {self.kind} {name!r} must be a dict, got {type(options).__name__}")
        if not options:  # no option to check (a trainer passes its checked, often empty, options at every solve)
            self.entry(name)  # the name still is
            return {}
        known = self.options(name)
        unknown = sorted(set(options) - set(known))
        if unknown:
            raise ValueError(f"{self.kind} {name!r} takes no option(s) {unknown}; its options are "
                             f"{ {k: (None if v is inspect.Parameter.empty else v) for k, v in known.items()} }")
        checker = self.entry(name).info.get("check_options")
        if checker is not None:  # the entry's own check of the values: a bad value fails where it is given
            checked = checker(**options)
            if checked is not None:  # the checker may return the options normalised (numpy ints as int, ...)
                return dict(checked)
        return dict(options)


class Choices:
    """The names a setting accepts, read from the table another module defines, when first needed.

    The table is a :class:`Registry` (its names), a mapping (its keys) or a
    tuple of names, looked up as ``module.attr`` at each use, so that the
    names are never copied (a name added to the table is accepted at once)
    and building a parser or loading a sweep file imports no trainer.

    Parameters
    ----------
    module : str
        The module that defines the table, e.g. ``"dualgan.train"``.
    attr : str
        Its name there, e.g. ``"MODES"``.

    Examples
    --------
    >>> from dualgan.registry import Choices
    >>> losses = Choices("dualgan.duals", "DISCRIMINATOR_LOSSES")
    >>> "hinge" in losses, list(losses)
    (True, ['logistic', 'hinge'])
    """

    def __init__(self, module: str, attr: str):
        self.module = module
        self.attr = attr

    def names(self) -> list[str]:
        """The accepted names, in the table's order.

        Returns
        -------
        list of str
            A registry's names, a mapping's keys or the tuple's items.
        """
        table = getattr(importlib.import_module(self.module), self.attr)
        return list(table.names() if isinstance(table, Registry) else table)

    def check(self, value: Any, name: str) -> Any:
        """Return ``value`` if it is one of :meth:`names`, else raise naming the setting.

        Parameters
        ----------
        value : object
            The chosen name.
        name : str
            The setting's name, for the message.

        Returns
        -------
        object
            ``value`` itself.

        Raises
        ------
        ValueError
            ``"<name> must be one of [...], got <value>"``.
        """
        names = self.names()
        if value not in names:
            raise ValueError(f"{name} must be one of {names}, got {value!r}")
        return value

    def __contains__(self, value: object) -> bool:
        return value in self.names()

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self.names())

    def __repr__(self) -> str:
        return f"Choices({self.module}.{self.attr})"


def _qualname(obj: Callable) -> str:
    return f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', type(obj).__name__)}"
