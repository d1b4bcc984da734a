"""The ``dualgan`` command line.

Each sub-command lives in its own module of this package and defines
``register(subparsers)``, which adds its parser and sets ``func`` (a callable
taking the parsed arguments and returning an exit code). Adding a command is
adding one file.
"""
from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import signal
import sys
import threading

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


class Terminated(SystemExit):
    """Raised in the main thread by SIGTERM while a command runs, so that its ``finally`` blocks clean up."""


def main(argv: list[str] | None = None) -> int:
    """Run one command; returns its exit code (0 ok, 1 failed runs, 2 usage or input errors).

    A ``ValueError`` raised by the library for a bad input becomes a usage error
    (message on stderr, exit code 2), not a traceback. Ctrl-C prints one line
    and returns 130, SIGTERM one line and 143 (after the command's clean-up:
    a sweep terminates its workers, a trainer records its status); a closed
    standard output (``dualgan ... | head``) ends the command quietly with 141,
    as Unix tools killed by SIGPIPE do; an ``OSError`` (a full disk) or running
    out of memory is one line and 1.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    from .._threads import thread_policy

    previous = _raise_on_sigterm()
    try:
        with thread_policy():  # torch and BLAS threads: the library's one policy (dualgan/_threads.py)
            return int(args.func(args) or 0)
    except ValueError as exc:
        print(f"dualgan {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        _quiet_stdout()
        return 141
    except KeyboardInterrupt:
        print(f"dualgan {args.command}: interrupted (Ctrl-C)", file=sys.stderr)
        return 130
    except Terminated:
        print(f"dualgan {args.command}: terminated (SIGTERM)", file=sys.stderr)
        return 143
    except OSError as exc:  # a full disk, a file made unreadable meanwhile: the error names the file
        print(f"dualgan {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except MemoryError as exc:
        print(f"dualgan {args.command}: error: out of memory ({exc or 'MemoryError'}); use smaller sizes",
              file=sys.stderr)
        return 1
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _raise_on_sigterm():
    """Turn SIGTERM into :class:`Terminated` in the main thread; returns the previous handler (None if not set)."""
    if threading.current_thread() is not threading.main_thread():
        return None

    def handler(signum, frame):
        raise Terminated(128 + signum)

    previous = signal.signal(signal.SIGTERM, handler)
    return signal.SIG_DFL if previous is None else previous  # None: a handler not set from Python


def _quiet_stdout() -> None:
    """After a closed pipe: point stdout at /dev/null, so that the interpreter's last flush cannot fail too."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # stdout without a descriptor (captured, replaced)
        pass


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
