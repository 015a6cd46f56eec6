"""``python -m gui``: the rtpose desktop viewer."""

import sys

from gui.app import main

sys.exit(main())
