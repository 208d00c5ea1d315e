"""``python -m monitor`` is the ``harken`` command."""

from monitor.cli import main

main()
