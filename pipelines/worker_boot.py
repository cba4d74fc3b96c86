"""`crmsync-worker`: the boot command of a PROCESS worker environment.

A Flink TaskManager or Spark executor starts one per Python worker, as
`crmsync-worker --id=... --provision_endpoint=... --control_endpoint=...`.
It does what the Go `boot` program of Beam's SDK containers does for a
machine where crmsync is already installed: asks the runner's provision
service for the pipeline options and endpoints, then becomes Beam's Python
SDK harness, with this interpreter (so our DoFns import from the same
installation). The harness runs in this process: the provision call has
imported Beam already, and a second interpreter would import it again on
the worker's start-up path.
"""

import argparse
import os
import sys
import tempfile


def main(argv=None):
  from crmsync.pipelines import startup
  startup.pause_collector()
  import grpc
  from apache_beam.portability.api import (beam_provision_api_pb2,
                                           beam_provision_api_pb2_grpc)
  from google.protobuf import json_format

  parser = argparse.ArgumentParser(prog="crmsync-worker")
  for flag in ("id", "provision_endpoint", "logging_endpoint",
               "artifact_endpoint", "control_endpoint", "semi_persist_dir"):
    parser.add_argument(f"--{flag}")
  args, _ = parser.parse_known_args(argv)
  with grpc.insecure_channel(args.provision_endpoint) as channel:
    info = beam_provision_api_pb2_grpc.ProvisionServiceStub(
        channel).GetProvisionInfo(
            beam_provision_api_pb2.GetProvisionInfoRequest(),
            metadata=[("worker_id", args.id)]).info
  env = {
      "WORKER_ID": args.id,
      "PIPELINE_OPTIONS": json_format.MessageToJson(info.pipeline_options),
      "SEMI_PERSISTENT_DIRECTORY": args.semi_persist_dir or tempfile.mkdtemp(
          prefix="crmsync-worker-"),
      "LOGGING_API_SERVICE_DESCRIPTOR":
          f'url: "{args.logging_endpoint or info.logging_endpoint.url}"',
      "CONTROL_API_SERVICE_DESCRIPTOR":
          f'url: "{args.control_endpoint or info.control_endpoint.url}"',
      "RUNNER_CAPABILITIES": " ".join(info.runner_capabilities),
  }
  if info.status_endpoint.url:
    env["STATUS_API_SERVICE_DESCRIPTOR"] = f'url: "{info.status_endpoint.url}"'
  os.environ.update(env)
  from apache_beam.runners.worker import sdk_worker_main

  from crmsync.transforms import state_sampler
  state_sampler.install()  # before the first bundle processor, not at setup
  startup.resume_collector()
  sdk_worker_main.main(sys.argv)


if __name__ == "__main__":
  main()
