"""The ``tandem`` command line (click)."""
