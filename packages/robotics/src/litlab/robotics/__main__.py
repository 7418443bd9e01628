import sys

from litlab.robotics.cli import main

sys.exit(main())
