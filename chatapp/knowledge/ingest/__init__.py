"""Django-free ingestion: parse uploaded bytes into sections and chunk them for indexing."""
