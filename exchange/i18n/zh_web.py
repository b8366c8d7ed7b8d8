"""Chinese for the staff console's pages, keyed by the English text in the templates."""

MESSAGES: dict[str, str] = {}
