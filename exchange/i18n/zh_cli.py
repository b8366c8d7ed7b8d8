"""Chinese for the command line's messages, keyed by the English text in the code."""

MESSAGES: dict[str, str] = {}
