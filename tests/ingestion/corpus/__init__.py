"""Test-time generators of hostile landing files (nothing binary is committed).

- :mod:`corpus.malformed`: one small file per kind of damage, each with what the loader must do.
- :mod:`corpus.bulk`: big, clean files (King County layout) and synthetic landing zones for the
  crash and concurrency tests.
"""
