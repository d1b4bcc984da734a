"""The ``dualgan`` command line.

Each sub-command lives in its own module of this package and defines
``register(subparsers)``, which adds its parser and sets ``func`` (a callable
taking the parsed arguments and returning an exit code). Adding a command is
adding one file.
"""
from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

__all__ = ["main", "build_parser"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dualgan", description="GAN training as optimisation.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        if hasattr(module, "register"):
            module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command; returns its exit code (0 ok, 1 failed runs, 2 usage or input errors).

    A ``ValueError`` raised by the library for a bad input becomes a usage error
    (message on stderr, exit code 2), not a traceback.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    from .._threads import thread_policy

    try:
        with thread_policy():  # torch and BLAS threads: the library's one policy (dualgan/_threads.py)
            return int(args.func(args) or 0)
    except ValueError as exc:
        print(f"dualgan {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
