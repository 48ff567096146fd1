"""`python -m bench`: run the suite, print the table, write bench/results.json."""

import sys

from bench.suite import main

sys.exit(main())
