"""The gateway manifest: its model and validation (model), the wheel tags it accepts (tags,
platforms), and the ways one is made: from an interpreter's facts (facts, introspect), from a
gateway's lockfile (from_lock), from a command's ``--manifest`` (resolve)."""
