"""``python -m heartsound.training.ablation``: see :mod:`heartsound.training.ablation.cli`."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
