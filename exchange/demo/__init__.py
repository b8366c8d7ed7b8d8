"""The demo federation: data set and runner."""
