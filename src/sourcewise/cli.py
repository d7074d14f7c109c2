"""The `sourcewise` command: the engine's `check`, and Django's commands for the rest.

`check` is dispatched before Django is imported so that checking a delivery never
pays for (or depends on) the web product.
"""

from __future__ import annotations

import os
import sys


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "check":
        from sourcewise.engine.cli import main as check_main

        return check_main(argv[1:])

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sourcewise.config.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(["sourcewise", *argv])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
