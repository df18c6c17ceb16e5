"""PyInstaller's entry script: the same ``softphone.cli:main`` the pip-installed command runs."""

import sys

from softphone.cli import main

if __name__ == "__main__":
    sys.exit(main())
