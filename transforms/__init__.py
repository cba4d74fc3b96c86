"""crmsync's reusable Beam transforms: compose them in your own pipelines.

    ReadCsv           CSV path/glob (local or s3://) -> RowBatch (+ .rejected)
    JoinSource        an enriched source as the joins take it
    BroadcastMerge    original RowBatches + JoinSources -> JoinResult
    PartitionedMerge  the same contract, for enriched sides too big to
                      broadcast (transforms/join.py describes JoinResult)
    BuildIndex(es), Merge  the broadcast join's two steps, to use alone
    WriteShards       merged RowBatches -> sharded CSV or Parquet, in order
    normalizers       email, phone, name, company, zip, url, domain, text
"""

from crmsync.transforms.broadcast import (BroadcastMerge, BuildIndex,
                                         BuildIndexes, Merge)
from crmsync.transforms.csv_dialect import CsvFormat
from crmsync.transforms.csv_io import ReadCsv
from crmsync.transforms.csv_source import CsvSource
from crmsync.transforms.join import JoinResult, JoinSource
from crmsync.transforms.partitioned import PartitionedMerge
from crmsync.transforms.rows import REJECTED_SCHEMA, RowBatch
from crmsync.transforms.spec import EnrichedSpec, MatchKey, MergeSpec
from crmsync.transforms.writing import WriteShards

__all__ = ["BroadcastMerge", "BuildIndex", "BuildIndexes", "CsvFormat",
           "CsvSource", "EnrichedSpec", "JoinResult", "JoinSource",
           "MatchKey", "Merge", "MergeSpec", "PartitionedMerge", "ReadCsv",
           "REJECTED_SCHEMA", "RowBatch", "WriteShards"]
