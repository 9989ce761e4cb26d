import sys

from wagate.cli import main

sys.exit(main())
