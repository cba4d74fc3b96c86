"""Every element of a PCollection in one list, through a GroupByKey.

beam.combiners.ToList does the same with a combiner, and is about twice as
slow on the large elements the joins gather (an enriched file's batches,
every batch's candidate pairs; benchmarks/gather.py measures both): the
whole list is encoded as the combiner's accumulator, and then passes once
more through a side input (CombineGlobally's default for an empty input).
A GroupByKey on one key moves each element once, and on a cluster sends
them all to one worker, as ToList does. GatherByKey does the same per key,
for a known set of keys (each enriched source's batches, say).
"""

import apache_beam as beam


class GatherByKey(beam.PTransform):
  """PCollection of (key, T) -> (key, List[T]) for every key of `keys` (in
  no particular order within a list), [] for a key no element has; global
  window only."""

  def __init__(self, keys):
    super().__init__()
    self._keys = list(keys)

  def expand(self, pcoll):
    # A key without elements still gives one (empty) list: a marker per
    # key, dropped after the grouping.
    markers = (pcoll.pipeline
               | "Markers" >> beam.Create([(k, (False, None))
                                           for k in self._keys]))
    elements = pcoll | "Tag" >> beam.MapTuple(lambda k, e: (k, (True, e)))
    return ((elements, markers)
            | "WithMarkers" >> beam.Flatten()
            | "Group" >> beam.GroupByKey()
            | "List" >> beam.MapTuple(
                lambda k, values: (k, [e for real, e in values if real])))


class GatherAll(beam.PTransform):
  """PCollection of T -> a single-element PCollection of List[T] (in no
  particular order), [] for an empty input, as beam.combiners.ToList;
  global window only."""

  def expand(self, pcoll):
    return (pcoll
            | "Key" >> beam.Map(lambda e: (0, e))
            | "Gather" >> GatherByKey([0])
            | "Values" >> beam.MapTuple(lambda _, values: values))
