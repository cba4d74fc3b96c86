"""One boto3 client per S3 configuration per process.

Beam's S3 filesystem builds a new boto3 session and client for every
operation (open, create, exists, rename ...), and making one costs far
more than the operation itself: a job's hundreds of small operations add
up. boto3 clients are thread-safe, so the wrapper Beam creates each time
gets a cached client instead.
"""

import os
import sys
import threading

from apache_beam.options.pipeline_options import PipelineOptions, S3Options

# Imported by Beam's S3 file system where boto3 is installed.
_BOTO3_CLIENT = "apache_beam.io.aws.clients.s3.boto3_client"

_FIELDS = ("s3_access_key_id", "s3_secret_access_key", "s3_session_token",
           "s3_endpoint_url", "s3_disable_ssl", "s3_region_name",
           "s3_api_version", "s3_verify")
# Credentials may also come from the environment, read when a client is made.
_ENV = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
        "AWS_PROFILE", "AWS_DEFAULT_REGION", "AWS_REGION")
_CLIENTS = {}
_LOCK = threading.Lock()


def _key(options):
  if isinstance(options, PipelineOptions):
    s3 = options.view_as(S3Options)
    values = tuple(str(getattr(s3, f, None)) for f in _FIELDS)
  else:
    values = tuple(str(options.get(f)) for f in _FIELDS)
  return values + tuple(os.environ.get(v) for v in _ENV)


def install() -> None:
  """Makes Beam's S3 client reuse one boto3 client per configuration, in
  this process (transforms/worker.py calls it); idempotent, and nothing
  until the process has Beam's S3 file system with boto3 (a `crmsync`
  command loads it for a job with S3 paths only: pipelines/startup.py)."""
  boto3_client = sys.modules.get(_BOTO3_CLIENT)
  if boto3_client is None:
    return
  original = boto3_client.Client.__init__
  if getattr(original, "_crmsync_cached", False):
    return

  def cached_init(self, options):
    key = _key(options)
    with _LOCK:
      client = _CLIENTS.get(key)
    if client is None:
      original(self, options)
      with _LOCK:
        _CLIENTS[key] = self.client
      return
    self.client = client
    self._download_request = None
    self._download_stream = None
    self._download_pos = 0

  cached_init._crmsync_cached = True
  boto3_client.Client.__init__ = cached_init

