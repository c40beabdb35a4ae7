"""`python -m repobus`."""

from repobus.cli import main

raise SystemExit(main())
