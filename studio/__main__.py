"""Run Layer Studio with `python -m studio`."""

import sys

from studio.cli import main

if __name__ == "__main__":  # a spawned training worker imports this module too
    sys.exit(main())
