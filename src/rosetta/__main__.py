"""``python -m rosetta``: the same as the ``rosetta`` command."""

import sys

from rosetta.cli import main

if __name__ == "__main__":  # not when a tool (pytest's doctest collection) merely imports this module
    sys.exit(main())
