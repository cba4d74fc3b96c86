"""Beam's views of pipeline options, made once per options object and class.

`PipelineOptions.view_as(cls)` builds a new `cls` from the options' flags,
which parses them again with a new argparse parser of every option `cls`
knows. Beam 2.77 asks for a `TypeOptions` view about twice for every
transform it applies (label checks, output type inference), so a crmsync
job of a few hundred transforms parses its flags several hundred times
before it runs.

A view holds no state of its own: its values live in the options'
`_all_options`, which every view of the same options shares, and the flags
it parses never change. `install()` keeps the first view of each class per
options object (held weakly) and returns it again.
"""

import functools
import threading
import weakref

from apache_beam.options.pipeline_options import PipelineOptions

_VIEWS = weakref.WeakKeyDictionary()  # options -> {class: view}
_LOCK = threading.Lock()


def install() -> None:
  """Makes `PipelineOptions.view_as` reuse views, in this process
  (transforms/worker.py calls it); idempotent."""
  original = PipelineOptions.view_as
  if getattr(original, "_crmsync_once", False):
    return

  @functools.wraps(original)  # __wrapped__: Beam's own
  def view_as(self, cls):
    try:
      with _LOCK:
        return _VIEWS[self][cls]
    except KeyError:
      pass
    except TypeError:  # not weakly referable: Beam's way
      return original(self, cls)
    view = original(self, cls)
    with _LOCK:
      _VIEWS.setdefault(self, {})[cls] = view
    return view

  view_as._crmsync_once = True
  PipelineOptions.view_as = view_as
