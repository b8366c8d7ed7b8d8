"""Shared test setup: ``tests/builders.py`` importable from every suite (the test
folders are not packages), and one Hypothesis profile.

The profile drops Hypothesis' per-example deadline (a busy 2-core machine makes
timing flaky, and nothing here asserts speed) and, under CI, derandomizes: a CI
run must pass or fail on the code alone. `make fuzz` explores at random.
"""

import os
import sys
from pathlib import Path

from hypothesis import settings

sys.path.insert(0, str(Path(__file__).parent))

# The CLI speaks the user's language (--lang, BRANDEX_LANG, LANG); tests that read its
# English text must not depend on the locale of the machine running them. Tests of
# the Chinese output ask for it explicitly.
os.environ["BRANDEX_LANG"] = "en"

settings.register_profile("brandex", deadline=None, derandomize=bool(os.environ.get("CI")))
settings.load_profile("brandex")
