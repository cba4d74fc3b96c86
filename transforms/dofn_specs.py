"""Beam's look-up of a DoFn's state and timer parameters, once per DoFn.

`apache_beam.transforms.userstate.get_dofn_specs(dofn)` finds the
StateSpecs and TimerSpecs a DoFn declares by reading the signature of every
method `dir(dofn)` lists (about 35 even for the DoFn behind a plain
`beam.Map`). Beam 2.77 asks it again for the same DoFn up to four times
while it builds and translates a job (`ParDo.__init__`, the
keyed-input check, `to_runner_api_parameter`) and twice more in each
bundle processor. A crmsync job has about a hundred ParDos, so these
repeated answers are a visible share of a short run's start-up.

The answer depends only on the DoFn's methods and their default
arguments, which nothing changes once the DoFn exists. `install()` keeps
it per DoFn object (in a WeakKeyDictionary, so by the DoFn's own hash,
its identity for every DoFn crmsync builds; nothing is kept alive, and
nothing rides along when the DoFn is pickled to a worker).
"""

import functools
import threading
import weakref

from apache_beam.transforms import userstate

_SPECS = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


def install() -> None:
  """Makes `userstate.get_dofn_specs` answer once per DoFn object, in this
  process (transforms/worker.py calls it); idempotent. The callers that
  look the function up on the module use it: `is_stateful_dofn`,
  `validate_stateful_dofn`, ParDo, the bundle processor of the portable
  runners. The old BundleBasedDirectRunner's evaluator imported it by
  name and keeps Beam's."""
  original = userstate.get_dofn_specs
  if getattr(original, "_crmsync_once", False):
    return

  @functools.wraps(original)  # __wrapped__: Beam's own
  def get_dofn_specs(dofn):
    try:
      with _LOCK:
        return _SPECS[dofn]
    except KeyError:
      pass
    except TypeError:  # not hashable or not weakly referable: ask Beam
      return original(dofn)
    specs = original(dofn)
    with _LOCK:
      _SPECS[dofn] = specs
    return specs

  get_dofn_specs._crmsync_once = True
  userstate.get_dofn_specs = get_dofn_specs
