"""`python -m wloadctl`: the same entry point as the `wloadctl` command (replicas are started this way)."""

import sys

from wloadctl.cli.main import main

if __name__ == "__main__":
    sys.exit(main())
