"""``python -m api`` runs the ``oversight`` command."""

from api.cli import main

main()
