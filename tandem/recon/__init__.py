"""Vendor CDR reconciliation: our CDRs against a vendor's, classified, with disputed amounts."""
