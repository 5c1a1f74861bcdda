"""`python -m seqmem.cli`, the same as `seqmem`."""

import sys

from seqmem.cli import main

sys.exit(main())
