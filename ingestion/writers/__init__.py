"""Writers: load landing files into a warehouse (PostgreSQL locally, Redshift in production)."""
