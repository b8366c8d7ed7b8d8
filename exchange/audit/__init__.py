"""Whole-log audits over the network: ``brandex audit log``.

:mod:`exchange.audit.runner` downloads origins from nodes over mTLS gRPC and
feeds the pure checks of :mod:`exchange.core.logcheck`; :mod:`exchange.audit.report`
turns the result into a terminal summary, an HTML report or JSON.
"""
