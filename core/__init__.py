"""TerraMiner's core: settings, errors and warehouse connections.

Every other package (``ingestion``, ``ml``, ``orchestration``, ``api``, ``terraminer``) may import
``core``; ``core`` imports none of them. Nothing here connects or reads files at import time.
"""
