"""Every element of a PCollection in one list, through a GroupByKey.

beam.combiners.ToList does the same with a combiner, and is about twice as
slow on the large elements the joins gather (an enriched file's batches,
every batch's candidate pairs; benchmarks/gather.py measures both): the
whole list is encoded as the combiner's accumulator, and then passes once
more through a side input (CombineGlobally's default for an empty input).
A GroupByKey on one key moves each element once, and on a cluster sends
them all to one worker, as ToList does.
"""

import apache_beam as beam


class GatherAll(beam.PTransform):
  """PCollection of T -> a single-element PCollection of List[T] (in no
  particular order), [] for an empty input, as beam.combiners.ToList;
  global window only."""

  def expand(self, pcoll):
    # An empty input still gives one (empty) list: a marker that every
    # input holds, dropped after the grouping.
    marker = (pcoll.pipeline
              | "Marker" >> beam.Create([(0, (False, None))]))
    elements = pcoll | "Key" >> beam.Map(lambda e: (0, (True, e)))
    return ((elements, marker)
            | "WithMarker" >> beam.Flatten()
            | "Group" >> beam.GroupByKey()
            | "List" >> beam.MapTuple(
                lambda _, values: [e for real, e in values if real]))
