"""Generated protobuf and gRPC code (made by ``make proto``; never edit by hand)."""
