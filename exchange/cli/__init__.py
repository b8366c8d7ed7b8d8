"""The ``brandex`` command line.

gRPC's C core reads ``GRPC_VERBOSITY`` once, when ``grpc`` is first imported:
set here, before any CLI module imports it, so that a node's log (and every
command's output) holds only brandex's own lines and errors.
"""

import os

os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
