"""A dg project: Scout assets declared as components in ``defs/``."""
