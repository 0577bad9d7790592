"""The load generator: ``python -m examples.loadgen --help``."""
