import sys

from lago.cli import main

sys.exit(main())
