"""Retail visitor-analytics appliance: one package, one CLI (`appliance`)."""

__version__ = "0.1.0"
