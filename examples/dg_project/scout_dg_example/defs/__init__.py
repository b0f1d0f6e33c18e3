"""Every folder below with a ``defs.yaml`` is a component (``dg list defs``)."""
