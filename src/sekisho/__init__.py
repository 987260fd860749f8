"""Sekisho (関所): a resident registry network without a universal number."""

__version__ = "0.1.0"
