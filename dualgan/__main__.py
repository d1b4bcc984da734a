"""``python -m dualgan``: the same command line as the ``dualgan`` script (``python -m dualgan --help``)."""
import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
