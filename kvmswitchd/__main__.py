import sys

from kvmswitchd.cli import main

sys.exit(main())
