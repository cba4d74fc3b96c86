"""crmsync's modules compiled before a benchmark times them.

`pip install .` compiles a package's modules as it installs them. After
the editable install the benchmarks use (`pip install -e .`), Python
compiles them on first import and caches the bytecode, unless
PYTHONDONTWRITEBYTECODE is set (as on some CI machines and in many Docker
images): then every run compiles them again, start-up that an installed
crmsync never pays. The peers (DuckDB, Splink) are installed packages,
compiled by pip.
"""

import compileall
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def compile_crmsync() -> None:
  """Writes the bytecode of the repository's transforms/ and pipelines/
  (what an install would have), whatever PYTHONDONTWRITEBYTECODE says."""
  for package in ("transforms", "pipelines"):
    if not compileall.compile_dir(os.path.join(ROOT, package), quiet=1):
      raise SystemExit(f"cannot compile {package}/")
