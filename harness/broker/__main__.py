"""``python -m harness.broker --config activemq.xml``"""

import sys

from harness.broker.cli import main

if __name__ == "__main__":
    sys.exit(main())
