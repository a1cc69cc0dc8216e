"""Trunks for the detector."""
