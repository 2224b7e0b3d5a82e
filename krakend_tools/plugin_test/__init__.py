"""``test-plugin``: will a built artifact load in the gateway? The static phase, then a sandboxed import."""
