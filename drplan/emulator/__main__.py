"""``python -m drplan.emulator --config FILE [--host H] [--port P] [--url-file F]``."""

from .server import main

raise SystemExit(main())
