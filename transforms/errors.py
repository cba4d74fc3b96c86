"""Errors a user can act on. The CLI prints them as one line and exits 2."""


class CrmsyncError(Exception):
  """Bad input or configuration: a one-line message naming the file, line or
  config key, never a traceback."""


class InputError(CrmsyncError):
  """An input file is missing, empty or has an unusable header."""


class ConfigError(CrmsyncError):
  """The job config is invalid."""


class TooManyRejectedError(InputError):
  """More of an input's rows were rejected than limits.max_rejected_fraction
  allows: publishing the rest would replace a good output with a hollow
  one. Raised on a worker, where the runner may keep only its text: the CLI
  knows it by this class name."""


def short_error(e: Exception) -> str:
  """The last line of an error's message (Beam wraps the OS error's in
  its own), cut to 300 characters; the error's type if it has none."""
  text = str(e).strip()
  return text.splitlines()[-1][:300] if text else type(e).__name__
