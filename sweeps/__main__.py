"""`python -m sweeps` is the `sweep` command."""

from sweeps.cli import main

raise SystemExit(main())
