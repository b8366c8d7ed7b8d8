"""``python -m exchange.demo run|up``."""

import sys

from exchange.demo.run import main

sys.exit(main())
