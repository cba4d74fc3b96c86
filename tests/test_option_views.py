"""transforms/option_views.py: one view per options object and class, which
still reads and writes the options' values."""

from apache_beam.options.pipeline_options import (DebugOptions,
                                                  PipelineOptions,
                                                  StandardOptions,
                                                  TypeOptions)

from crmsync.transforms import option_views


def test_a_view_is_made_once_and_shares_the_options_values():
  option_views.install()
  installed = PipelineOptions.view_as
  option_views.install()  # idempotent: one wrapper, not two
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
