"""``python -m forge_dev.preview XR [-e PATH]...``: see ``forge_dev.preview.cli``."""

import sys

from forge_dev.preview.cli import main

sys.exit(main())
