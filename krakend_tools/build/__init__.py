"""``krakend build``: compile a plugin in each target's builder image, then test what was built."""
