"""Makes ``tests/builders.py`` importable from every suite (the test folders are not packages)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
