"""The error a user of the exporter can fix (bad flags, bad directories)."""

from tfvae.errors import UserError


class ExportError(UserError, ValueError):
  """An export cannot proceed; the message says what is wrong and how to fix it."""
