"""S3-compatible storage: options, and a check before anything runs.

Paths are read and written through Beam's FileSystems, so `s3://` works
wherever a local path does. Endpoint and region come, in this order, from
Beam's `--s3_*` options, the config's `storage:` section, then the standard
AWS environment (AWS_ENDPOINT_URL, AWS_REGION / AWS_DEFAULT_REGION);
credentials from `--s3_access_key_id`/`--s3_secret_access_key`, else boto3's
usual chain (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, then the profile named
by `storage.profile` or AWS_PROFILE). Secrets are never logged or printed.
"""

import os
import shutil
from typing import Iterable, List

from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions, S3Options

from crmsync.pipelines.config import StorageConfig
from crmsync.transforms.errors import InputError

_FALSE = {"false", "0", "no", "off"}


def _given(args: List[str], name: str) -> bool:
  return any(a == name or a.startswith(name + "=") for a in args)


def storage_args(config, beam_args: List[str]) -> List[str]:
  """Beam S3 options the config (None: a command without one) or the
  environment supply and the command line did not."""
  storage = config.storage if config is not None else StorageConfig()
  extra = []
  endpoint = storage.endpoint_url or os.environ.get("AWS_ENDPOINT_URL_S3") \
      or os.environ.get("AWS_ENDPOINT_URL")
  region = storage.region or os.environ.get("AWS_REGION") or os.environ.get(
      "AWS_DEFAULT_REGION")
  if endpoint and not _given(beam_args, "--s3_endpoint_url"):
    extra.append(f"--s3_endpoint_url={endpoint}")
  if region and not _given(beam_args, "--s3_region_name"):
    extra.append(f"--s3_region_name={region}")
  if storage.verify is False and not _given(beam_args, "--s3_verify"):
    extra.append("--s3_verify=False")
  if storage.profile:
    os.environ["AWS_PROFILE"] = storage.profile
  return extra


def configure(options: PipelineOptions):
  """Makes FileSystems use the options here, in the launching process (the
  workers get them from the pipeline). `--s3_verify=False` arrives as the
  string 'False', which boto3 would take for a CA bundle path."""
  s3 = options.view_as(S3Options)
  if isinstance(s3.s3_verify, str) and s3.s3_verify.lower() in _FALSE:
    s3.s3_verify = False
  FileSystems.set_options(options)


def _buckets(paths: Iterable[str]):
  return sorted({p[len("s3://"):].split("/", 1)[0] for p in paths
                 if p and p.startswith("s3://")})


def client(options: PipelineOptions):
  """A boto3 S3 client for the job's options: one attempt per call, short
  timeouts (checks and leases must fail fast)."""
  import boto3
  from botocore.config import Config
  s3 = options.view_as(S3Options)
  session = boto3.session.Session()
  return session.client(
      "s3", endpoint_url=s3.s3_endpoint_url, region_name=s3.s3_region_name,
      aws_access_key_id=s3.s3_access_key_id,
      aws_secret_access_key=s3.s3_secret_access_key,
      aws_session_token=s3.s3_session_token,
      verify=s3.s3_verify if s3.s3_verify is not None else True,
      config=Config(connect_timeout=5, read_timeout=30,
                    retries={"max_attempts": 1},
                    s3={"addressing_style": "path"}
                    if s3.s3_endpoint_url else None))


def check_buckets(paths: Iterable[str], options: PipelineOptions):
  """One clear error, before any data is processed, if a bucket the job
  uses is missing, refuses our credentials, or its endpoint is down."""
  buckets = _buckets(paths)
  if not buckets:
    return
  from botocore.exceptions import (BotoCoreError, ClientError,
                                   EndpointConnectionError,
                                   NoCredentialsError)
  s3 = client(options)
  endpoint = options.view_as(S3Options).s3_endpoint_url or "AWS S3"
  for bucket in buckets:
    try:
      s3.head_bucket(Bucket=bucket)
    except EndpointConnectionError:
      raise InputError(f"s3://{bucket}: cannot reach the S3 endpoint "
                       f"{endpoint}") from None
    except NoCredentialsError:
      raise InputError(f"s3://{bucket}: no S3 credentials (set "
                       f"AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, a profile, "
                       f"or --s3_access_key_id)") from None
    except ClientError as e:
      code = str(e.response.get("Error", {}).get("Code", ""))
      status = e.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
      if code in ("404", "NoSuchBucket") or status == 404:
        raise InputError(f"s3://{bucket}: bucket does not exist at "
                         f"{endpoint}") from None
      if code in ("403", "AccessDenied", "InvalidAccessKeyId",
                  "SignatureDoesNotMatch") or status == 403:
        raise InputError(f"s3://{bucket}: access denied at {endpoint} "
                         f"(check the credentials)") from None
      raise InputError(f"s3://{bucket}: S3 error {code or status} at "
                       f"{endpoint}") from None
    except BotoCoreError as e:
      raise InputError(f"s3://{bucket}: {type(e).__name__} talking to "
                       f"{endpoint}") from None


def check_local_outputs(config):
  """One clear error before the run if a local output folder cannot be
  created or written (a file in the way, a read-only mount, no rights)."""
  import tempfile
  for key, path in (("output.path", config.output.path),
                    ("output.reports", config.output.reports_dir + "/")):
    if "://" in path:
      continue
    folder = os.path.dirname(path) or "."
    if os.path.exists(folder) and not os.path.isdir(folder):
      raise InputError(f"{key}: cannot write to {folder} (a file, not a "
                       f"folder)")
    # The first folder that does not exist yet: removed after the probe.
    created = folder
    while not os.path.exists(os.path.dirname(created) or "."):
      created = os.path.dirname(created)
    created = None if os.path.exists(created) else created
    try:
      os.makedirs(folder, exist_ok=True)
      with tempfile.NamedTemporaryFile(dir=folder, prefix=".crmsync-probe-"):
        pass
    except OSError as e:
      raise InputError(f"{key}: cannot write to {folder} "
                       f"({e.strerror or e})") from None
    finally:
      if created:
        shutil.rmtree(created, ignore_errors=True)


def uses_s3(config) -> bool:
  """Whether any path of the job (inputs, outputs, reports, decisions) is
  an `s3://` one."""
  return "s3://" in config.model_dump_json()


def job_paths(config) -> List[str]:
  return ([config.original.path] + [e.path for e in config.enriched] +
          [config.output.path, config.output.reports_dir])
