"""``python -m forge.preview XR [-e PATH]...``: see ``forge.preview.cli``."""

import sys

from forge.preview.cli import main

sys.exit(main())
