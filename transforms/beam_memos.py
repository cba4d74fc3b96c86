"""Three of Beam's start-up computations, made once.

- `apache_beam.transforms.userstate.get_dofn_specs(dofn)` finds the
  StateSpecs and TimerSpecs a DoFn declares by reading the signature of
  every method `dir(dofn)` lists (about 35 even for the DoFn behind a
  plain `beam.Map`). Beam 2.77 asks it again for the same DoFn up to four
  times while it builds and translates a job (`ParDo.__init__`, the
  keyed-input check, `to_runner_api_parameter`), and twice more for each
  DoFn of each bundle processor, which unpickles DoFns of its own: the
  DoFns of one class get the same answer. The answer depends only on the
  DoFn's methods and their default arguments, which nothing changes once
  the DoFn exists, so it is kept per class, unless the DoFn holds a bound
  method of its own (`beam.FlatMap(obj.method)` makes that method the
  DoFn's `process`) or its class has a property of its own (which could return
  one): those are asked once per object.
- `PipelineOptions.view_as(cls)` builds a new `cls` from the options'
  flags, which parses them again with a new argparse parser of every
  option `cls` knows; Beam asks for a `TypeOptions` view about twice for
  every transform it applies (label checks, output type inference). A
  view holds no state of its own: its values live in the options'
  `_all_options`, which every view of the same options shares, and the
  flags it parses never change.

A crmsync job has about a hundred ParDos and a few hundred transforms, so
these repeated answers were a visible share of a short run's start-up and
of each bundle's set-up. `install()` keeps each answer per object or class
(in a WeakKeyDictionary, so by its own hash, its identity for every DoFn,
class and options object crmsync builds; nothing is kept alive, and nothing
rides along when a DoFn is pickled to a worker).
"""

import functools
import threading
import types
import weakref

from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.transforms import userstate
from apache_beam.transforms.core import DoFn


def install() -> None:
  """Makes `userstate.get_dofn_specs` answer once per DoFn class (or
  object, above) and `PipelineOptions.view_as` once per object and view
  class, in this process
  (transforms/worker.py calls it); idempotent. The callers that look
  `get_dofn_specs` up on its module use the memo: `is_stateful_dofn`,
  `validate_stateful_dofn`, ParDo, the bundle processor of the portable
  runners; the old BundleBasedDirectRunner's evaluator imported it by
  name and keeps Beam's."""
  if not getattr(userstate.get_dofn_specs, "_crmsync_once", False):
    userstate.get_dofn_specs = _once_per_object(userstate.get_dofn_specs,
                                                _methods_owner)
  if not getattr(PipelineOptions.view_as, "_crmsync_once", False):
    PipelineOptions.view_as = _once_per_object(PipelineOptions.view_as)


def _methods_owner(dofn):
  """What a DoFn's methods come from: its class, unless it holds a bound
  method of its own or its class has a property of its own; then the DoFn
  itself."""
  cls = type(dofn)
  if _has_property(cls) or any(isinstance(value, types.MethodType)
                               for value in vars(dofn).values()):
    return dofn
  return cls


def _has_property(cls) -> bool:
  """Whether cls has a property beam.DoFn itself lacks (its own say only
  which process methods a DoFn defines)."""
  beams = DoFn.__mro__
  return any(isinstance(value, property) for klass in cls.__mro__
             if klass not in beams for value in vars(klass).values())


def _once_per_object(original, owner=lambda obj: obj):
  """`original(obj, *args)`, computed once per `owner(obj)` (held weakly)
  and `args`; an owner that is not hashable or weakly referable is asked
  every time. `__wrapped__` is `original`."""
  answers = weakref.WeakKeyDictionary()  # owner -> {args: answer}
  lock = threading.Lock()

  @functools.wraps(original)
  def once(obj, *args):
    try:
      key = owner(obj)
      with lock:
        return answers[key][args]
    except KeyError:
      pass
    except TypeError:
      return original(obj, *args)
    answer = original(obj, *args)
    with lock:
      answers.setdefault(key, {})[args] = answer
    return answer

  once._crmsync_once = True
  return once
