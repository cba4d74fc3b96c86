"""crmsync's reusable Beam transforms: compose them in your own pipelines.

    ReadCsv      CSV path/glob (local or s3://) -> RowBatch (+ .rejected)
    BuildIndex   an enriched source's RowBatches -> one EnrichedIndex
    Merge        original RowBatches + indexes -> merged RowBatches, conflicts,
                 hits, stats
    WriteShards  merged RowBatches -> sharded CSV in original order
    normalizers  email, phone, name, company, zip, url, domain, text
"""

from crmsync.transforms.csv_dialect import CsvFormat
from crmsync.transforms.csv_io import ReadCsv
from crmsync.transforms.csv_source import CsvSource
from crmsync.transforms.broadcast import BuildIndex, Merge
from crmsync.transforms.rows import RejectedRow, RowBatch
from crmsync.transforms.spec import EnrichedSpec, MatchKey, MergeSpec
from crmsync.transforms.writing import WriteShards

__all__ = ["CsvFormat", "CsvSource", "ReadCsv", "BuildIndex", "Merge",
           "RejectedRow", "RowBatch", "EnrichedSpec", "MatchKey", "MergeSpec",
           "WriteShards"]
