"""The probe runs in other interpreters as the top-level module ``krakend_probe``."""
