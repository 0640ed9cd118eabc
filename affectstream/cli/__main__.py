"""``python -m affectstream.cli``: the same as the ``affectstream`` command."""

import sys

from affectstream.cli.main import main

sys.exit(main())
