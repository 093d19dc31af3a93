"""``python -m tandem`` runs the command line."""

from tandem.cli.main import main

main()
