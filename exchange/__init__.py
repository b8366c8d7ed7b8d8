"""brandex: a federated, verifiable registry of famous-brand recognitions."""

__version__ = "0.1.0"
