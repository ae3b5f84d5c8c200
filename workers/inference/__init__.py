"""Django-free model code: embedders, generators, answering and review."""
