"""transforms/beam_memos.py: Beam's state and timer look-up, once per
DoFn, with Beam's answers and Beam's stateful DoFns still working; one
view per options object and class, which still reads and writes the
options' values."""

import apache_beam as beam
from apache_beam.coders import VarIntCoder
from apache_beam.options.pipeline_options import (DebugOptions,
                                                  PipelineOptions,
                                                  StandardOptions,
                                                  TypeOptions)
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to
from apache_beam.transforms import userstate
from apache_beam.transforms.timeutil import TimeDomain

from crmsync.transforms import beam_memos

# Beam's own, whether or not a run in this process installed the wrapper.
ORIGINAL = getattr(userstate.get_dofn_specs, "__wrapped__",
                   userstate.get_dofn_specs)
COUNT = userstate.BagStateSpec("count", VarIntCoder())
FLUSH = userstate.TimerSpec("flush", TimeDomain.WATERMARK)


class _RunningCount(beam.DoFn):
  """Per key, the running count of the elements seen so far."""

  def process(self, element, count=beam.DoFn.StateParam(COUNT)):
    count.add(1)
    yield element[0], sum(count.read())


class _WithTimer(beam.DoFn):

  def process(self, element, flush=beam.DoFn.TimerParam(FLUSH)):
    yield element

  @userstate.on_timer(FLUSH)
  def on_flush(self):
    return []


def test_the_answers_are_beams_and_asked_once_per_dofn():
  beam_memos.install()
  installed = userstate.get_dofn_specs
  assert installed.__wrapped__ is ORIGINAL
  beam_memos.install()  # idempotent: one wrapper, not two
  assert userstate.get_dofn_specs is installed
  for dofn in (_RunningCount(), _WithTimer(), beam.Map(len).dofn):
    first = userstate.get_dofn_specs(dofn)
    assert first == ORIGINAL(dofn)
    assert userstate.get_dofn_specs(dofn) is first  # kept, not asked again
  assert userstate.get_dofn_specs(_RunningCount()) == ({COUNT}, set())
  assert userstate.get_dofn_specs(_WithTimer()) == (set(), {FLUSH})
  assert userstate.is_stateful_dofn(_WithTimer())
  assert not userstate.is_stateful_dofn(beam.Map(len).dofn)


class _Keeper:
  """A bound method with state: `beam.FlatMap(keeper.count)` makes it the
  DoFn's process, so that DoFn is stateful and another FlatMap's is
  not."""

  def count(self, element, count=beam.DoFn.StateParam(COUNT)):
    return element


class _ChoosesProcess(beam.DoFn):
  """A property that hands out a method: its DoFns are asked one by one."""

  def __init__(self, stateful):
    self._stateful = stateful

  @property
  def chosen(self):
    return _Keeper().count if self._stateful else len

  def process(self, element):
    yield element


def test_dofns_of_one_class_share_its_answer_unless_they_hold_methods():
  beam_memos.install()
  first, second = _RunningCount(), _RunningCount()
  assert userstate.get_dofn_specs(first) is userstate.get_dofn_specs(second)
  plain = beam.FlatMap(len).dofn
  stateful = beam.FlatMap(_Keeper().count).dofn  # plain's class
  assert type(plain) is type(stateful)
  assert userstate.get_dofn_specs(plain) == (set(), set())
  assert userstate.get_dofn_specs(stateful) == ({COUNT}, set())
  assert userstate.get_dofn_specs(beam.FlatMap(str).dofn) == (set(), set())
  assert userstate.get_dofn_specs(_ChoosesProcess(False)) == (set(), set())
  assert userstate.get_dofn_specs(_ChoosesProcess(True)) == ({COUNT}, set())


def test_stateful_dofns_still_run_after_install():
  beam_memos.install()
  with TestPipeline() as p:
    counts = (p | beam.Create([("a", 1), ("b", 1), ("a", 1), ("a", 1)])
              | beam.ParDo(_RunningCount()))
    assert_that(counts, equal_to([("a", 1), ("a", 2), ("a", 3), ("b", 1)]))


def test_a_view_is_made_once_and_shares_the_options_values():
  beam_memos.install()
  installed = PipelineOptions.view_as
  beam_memos.install()  # idempotent: one wrapper, not two
  assert PipelineOptions.view_as is installed
  options = PipelineOptions(["--runner=FlinkRunner", "--experiments=a",
                             "--no_pipeline_type_check"])
  types = options.view_as(TypeOptions)
  assert options.view_as(TypeOptions) is types  # parsed once
  assert types.pipeline_type_check is False
  assert options.view_as(StandardOptions).runner == "FlinkRunner"
  # Written through one view, read through the others.
  options.view_as(StandardOptions).runner = "SparkRunner"
  assert options.view_as(StandardOptions).runner == "SparkRunner"
  assert options.get_all_options()["runner"] == "SparkRunner"
  options.view_as(DebugOptions).add_experiment("b")
  assert options.view_as(DebugOptions).experiments == ["a", "b"]
  # A view Beam itself makes (no cache) shares the same values.
  beams = PipelineOptions.view_as.__wrapped__(options, StandardOptions)
  assert beams is not options.view_as(StandardOptions)
  assert beams.runner == "SparkRunner"
  beams.runner = "DirectRunner"
  assert options.view_as(StandardOptions).runner == "DirectRunner"
  # Another options object has views of its own.
  other = PipelineOptions([])
  assert other.view_as(TypeOptions) is not types
  assert other.view_as(StandardOptions).runner is None
