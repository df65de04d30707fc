"""`python -m ci_track` is the same as the `ci-track` command."""

import sys

from ci_track.cli import main

if __name__ == "__main__":
    sys.exit(main())
