"""Two of Beam's start-up computations, made once per object.

- `apache_beam.transforms.userstate.get_dofn_specs(dofn)` finds the
  StateSpecs and TimerSpecs a DoFn declares by reading the signature of
  every method `dir(dofn)` lists (about 35 even for the DoFn behind a
  plain `beam.Map`). Beam 2.77 asks it again for the same DoFn up to four
  times while it builds and translates a job (`ParDo.__init__`, the
  keyed-input check, `to_runner_api_parameter`) and twice more in each
  bundle processor. The answer depends only on the DoFn's methods and
  their default arguments, which nothing changes once the DoFn exists.
- `PipelineOptions.view_as(cls)` builds a new `cls` from the options'
  flags, which parses them again with a new argparse parser of every
  option `cls` knows; Beam asks for a `TypeOptions` view about twice for
  every transform it applies (label checks, output type inference). A
  view holds no state of its own: its values live in the options'
  `_all_options`, which every view of the same options shares, and the
  flags it parses never change.

A crmsync job has about a hundred ParDos and a few hundred transforms, so
these repeated answers were a visible share of a short run's start-up.
`install()` keeps each answer per object (in a WeakKeyDictionary, so by
the object's own hash, its identity for every DoFn and options object
crmsync builds; nothing is kept alive, and nothing rides along when a DoFn
is pickled to a worker).
"""

import functools
import threading
import weakref

from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.transforms import userstate


def install() -> None:
  """Makes `userstate.get_dofn_specs` and `PipelineOptions.view_as`
  answer once per object (and view class), in this process
  (transforms/worker.py calls it); idempotent. The callers that look
  `get_dofn_specs` up on its module use the memo: `is_stateful_dofn`,
  `validate_stateful_dofn`, ParDo, the bundle processor of the portable
  runners; the old BundleBasedDirectRunner's evaluator imported it by
  name and keeps Beam's."""
  if not getattr(userstate.get_dofn_specs, "_crmsync_once", False):
    userstate.get_dofn_specs = _once_per_object(userstate.get_dofn_specs)
  if not getattr(PipelineOptions.view_as, "_crmsync_once", False):
    PipelineOptions.view_as = _once_per_object(PipelineOptions.view_as)


def _once_per_object(original):
  """`original(obj, *args)`, computed once per `obj` (held weakly) and
  `args`; an object that is not hashable or weakly referable is asked
  every time. `__wrapped__` is `original`."""
  answers = weakref.WeakKeyDictionary()  # obj -> {args: answer}
  lock = threading.Lock()

  @functools.wraps(original)
  def once(obj, *args):
    try:
      with lock:
        return answers[obj][args]
    except KeyError:
      pass
    except TypeError:
      return original(obj, *args)
    answer = original(obj, *args)
    with lock:
      answers.setdefault(obj, {})[args] = answer
    return answer

  once._crmsync_once = True
  return once
