"""Storage: schema, engine/session factory, migrations, vector index."""
