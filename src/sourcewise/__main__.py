"""Allow `python -m sourcewise`, the same as the `sourcewise` command."""

from sourcewise.cli import main

raise SystemExit(main())
