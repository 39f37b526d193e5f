"""Entry point of the workload images: `python -m media_pipeline COMMAND ...`."""

import sys

from media_pipeline.cli import main

sys.exit(main())
