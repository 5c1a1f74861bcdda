"""`python -m seqmem.cli`, the same as `seqmem`."""

import sys

from seqmem.cli.command import main

sys.exit(main())
