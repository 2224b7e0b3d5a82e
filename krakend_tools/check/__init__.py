"""``check-plugin``: a plugin's lockfile against the gateway manifest, and fixes in the author's own tool."""
