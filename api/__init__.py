"""TerraMiner's data-access API (issue 17): REST ``/v1`` and GraphQL ``/graphql`` over the marts.

Layers (ARCHITECTURE §10): ``routes/`` and ``graphql.py`` stay thin and call one service layer
(``service/``), which reads the warehouse through a pool as ``terraminer_api`` and caches answers
in Redis under keys that carry the data version. This package imports only ``core``, ``ml`` and
third-party libraries.
"""
