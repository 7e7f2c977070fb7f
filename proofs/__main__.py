"""``python -m proofs`` is ``prefixcheck``."""
import sys

from proofs.cli import main

sys.exit(main())
