"""Check, test and build compiled Python plugins for the gateway."""

__version__ = "0.1.0"
