"""GatherAll: every element of a PCollection in one list."""

import apache_beam as beam
from apache_beam.testing import test_pipeline
from apache_beam.testing.util import assert_that, equal_to

from crmsync.transforms.gather import GatherAll


def _gathered(elements):
  with test_pipeline.TestPipeline() as p:
    out = (p | beam.Create(elements, reshuffle=False)
           | GatherAll() | beam.Map(sorted))
    assert_that(out, equal_to([sorted(elements)]))


def test_every_element_arrives_in_one_list():
  _gathered([3, 1, 2, 2, 0])


def test_an_empty_input_gives_one_empty_list_as_tolist_does():
  _gathered([])


def test_none_and_falsy_elements_are_kept():
  with test_pipeline.TestPipeline() as p:
    out = (p | beam.Create([None, 0, "", (False, None)])
           | GatherAll() | beam.Map(len))
    assert_that(out, equal_to([4]))
