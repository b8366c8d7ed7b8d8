"""The node: gRPC services over mutual TLS, the ledger, sync and witnessing.

Knows ``exchange.store`` and ``exchange.core``; nothing below imports it.
"""
