"""``python -m scout_dagster.emulator``: the same as the ``scout-emulator`` command."""

from ._cli import main

if __name__ == "__main__":
    raise SystemExit(main())
