"""Vendor CDR reconciliation: does the vendor's bill match what we sent it?

:func:`read_side` reads either side's CDR file (any format ``tandem rate`` reads, the
vendor's rate and amount columns, its time zone and national number format);
:func:`reconcile` matches the records (call id, else number and start time), prices them
on our buy deck with the rating module and classifies every one (:data:`CLASSES`) with
the amount in dispute; :func:`write_dispute` writes the lines to send the vendor (CSV and
XLSX), :func:`write_report` the report tables and HTML page.
"""

from tandem.recon.classify import CLASSES, Tolerances
from tandem.recon.dispute import write_dispute
from tandem.recon.match import Matching, match_by_time, match_sides
from tandem.recon.numbers import vendor_digits
from tandem.recon.read import CdrSide, read_side
from tandem.recon.reconcile import Reconciliation, reconcile

__all__ = [
    "CLASSES",
    "CdrSide",
    "Matching",
    "Reconciliation",
    "Tolerances",
    "match_by_time",
    "match_sides",
    "read_side",
    "reconcile",
    "vendor_digits",
    "write_dispute",
]
