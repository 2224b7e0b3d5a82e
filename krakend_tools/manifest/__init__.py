"""The gateway manifest: its model, the interpreter introspection that makes it, targets and wheel tags."""
