"""Pledges (承诺), signatures, progress and certificates."""
