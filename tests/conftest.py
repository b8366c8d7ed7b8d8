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

# Each pytest-xdist worker (gw0, gw1, ...) hands out node ports from its own block below
# the kernel's ephemeral range (exchange/ports.py): a node stopped and restarted on its
# port must not find it taken by the other worker's nodes or by an outgoing connection.
_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw")
if _WORKER.isdigit() and int(_WORKER) < 5:
    _LOW = 12000 + 4000 * int(_WORKER)
    os.environ.setdefault("BRANDEX_PORT_RANGE", f"{_LOW}-{_LOW + 3999}")

settings.register_profile("brandex", deadline=None, derandomize=bool(os.environ.get("CI")))
settings.load_profile("brandex")
