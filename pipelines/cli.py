"""The `crmsync` command line.

    crmsync run CONFIG [--set key.path=value ...] [Beam pipeline options]
    crmsync validate CONFIG [--set ...]
    crmsync demo-data [DIR]
    crmsync dev s3 [--dir DIR] [--port PORT]
    crmsync dev flink|spark [--dir DIR] [--workers N]
    crmsync dev jobservers

Exit codes: 0 success; 2 bad input or config (one line on stderr naming the
file, line or key; nothing written); 1 the run itself failed.
"""

import argparse
import atexit
import difflib
import importlib.util
import json
import logging
import os
import re
import sys
import time
import uuid

from crmsync.pipelines import startup

_LOG = logging.getLogger("crmsync")
EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2
# Beam's DirectRunner first looks up (and downloads) the Prism runner; its
# in-process Python runner needs no network and supports
# --direct_num_workers/--direct_running_mode.
PYTHON_RUNNER = "apache_beam.runners.portability.fn_api_runner.FnApiRunner"


def _parser():
  parser = argparse.ArgumentParser(
      prog="crmsync",
      description="Merge enriched contact files back into a CRM export.")
  sub = parser.add_subparsers(dest="command", required=True)
  for name, text in (("run", "run the merge job"),
                     ("validate", "check the config and input headers, "
                                  "run nothing")):
    p = sub.add_parser(name, help=text)
    p.add_argument("config", help="job config (YAML)")
    p.add_argument("--set", dest="overrides", action="append", default=[],
                   metavar="KEY.PATH=VALUE", help="override a config value")
    p.add_argument("-v", "--verbose", action="store_true")
    p.add_argument("-q", "--quiet", action="store_true",
                   help="errors only: no progress, no summary")
    p.add_argument("--log-format", choices=("text", "json"), default="text",
                   help="json: one JSON object per line on stderr (logs, "
                        "errors and the summary), for schedulers")
    p.add_argument("--sample", type=int, metavar="N",
                   help="run on the first N original rows only")
    p.add_argument("--run-id", help="the {run_id} of templated paths "
                                    "(default: a new one)")
  dev = sub.add_parser("dev", help="local services for demos and tests")
  dev_sub = dev.add_subparsers(dest="service", required=True)
  s3 = dev_sub.add_parser("s3", help="run a local S3 server (SeaweedFS)")
  s3.add_argument("--dir", default="out/seaweedfs")
  s3.add_argument("--port", type=int, default=8333)
  s3.add_argument("--demo-data", default="data/demo")
  for kind in ("flink", "spark"):
    cluster = dev_sub.add_parser(
        kind, help=f"run a standalone {kind.title()} cluster on 127.0.0.1")
    cluster.add_argument("--dir", default=f"out/{kind}")
    cluster.add_argument(
        "--workers", type=int, choices=(1, 2), default=1,
        help="TaskManager or worker processes, sharing 2 slots or cores")
  dev_sub.add_parser("jobservers", help="build the Flink and Spark job "
                                        "servers with Maven (cached)")
  suggest = sub.add_parser("suggest", help="write a job config from samples "
                                           "of the files")
  suggest.add_argument("--original", required=True)
  suggest.add_argument("--enriched", required=True, nargs="+")
  suggest.add_argument("-o", "--output", help="write the config here "
                                              "(default: print it)")
  suggest.add_argument("--sample-rows", type=int, default=20_000)
  suggest.add_argument("--merged", default="out/merged",
                       help="output.path of the suggested job")
  demo = sub.add_parser("demo-data", help="write the demo input files")
  demo.add_argument("directory", nargs="?", default="data/demo")
  demo.add_argument("--rows", type=int, default=10_000)
  return parser


def _beam_dir() -> str:
  spec = importlib.util.find_spec("apache_beam")
  return os.path.dirname(spec.origin) if spec and spec.origin else "//"


class _BeamNoise(logging.Filter):
  """Beam warns about optional GCP clients at import (we use none), and its
  runners log a worker's failure with the whole traceback: crmsync prints
  that failure as one line, and `-v` shows everything."""

  def __init__(self, verbose: bool, quiet: bool = False):
    super().__init__()
    self._verbose = verbose
    self._beam = _beam_dir() if quiet and not verbose else None

  def filter(self, record):
    message = record.getMessage()
    if message.startswith("apitools not found"):
      return False
    if self._verbose or record.name.startswith("crmsync"):
      return True
    if self._beam and record.pathname.startswith(self._beam):
      # Beam logs a failed job's cause at ERROR from its root logger too;
      # under --quiet, crmsync's one line says it.
      return False
    return not (record.exc_info or "Traceback (most recent call last)"
                in message)


class _JsonFormatter(logging.Formatter):

  def format(self, record):
    return json.dumps({"time": self.formatTime(record), "level":
                       record.levelname, "logger": record.name,
                       "message": record.getMessage()})


_OUTPUT = {"format": "text"}


def _emit(kind: str, text: str, **fields):
  """An error or summary line on stderr, as text or as one JSON object."""
  if _OUTPUT["format"] == "json":
    print(json.dumps({"event": kind, "message": text, **fields}),
          file=sys.stderr)
  else:
    print(text, file=sys.stderr)


def _setup_logging(verbose: bool, quiet: bool = False, fmt: str = "text"):
  _OUTPUT.update(format=fmt)
  logging.basicConfig(
      level=logging.INFO, stream=sys.stderr,
      format="%(asctime)s %(levelname)s %(name)s: %(message)s")
  for handler in logging.getLogger().handlers:
    handler.addFilter(_BeamNoise(verbose, quiet))
    if fmt == "json":
      handler.setFormatter(_JsonFormatter())
  logging.getLogger().setLevel(
      logging.ERROR if quiet and not verbose else logging.INFO)
  # Beam is chatty at INFO; our own modules are not.
  # The Flink and Spark job servers' own Java logs come through these.
  # Under --quiet, not even their warnings ("Really starting service").
  for name in ("apache_beam", "FlinkJarJobServer", "SparkJarJobServer"):
    logging.getLogger(name).setLevel(
        logging.INFO if verbose else logging.ERROR if quiet else
        logging.WARNING)
  level = logging.DEBUG if verbose else logging.ERROR if quiet else logging.INFO
  logging.getLogger("crmsync").setLevel(level)
  # Local worker processes (multi_processing) configure their own logging;
  # they learn our level from the environment (transforms/worker.py).
  os.environ["CRMSYNC_LOG_LEVEL"] = logging.getLevelName(level)


def _beam_args(extra):
  args = list(extra)
  # Beam type-checks a graph as it is built, at a cost in every run of a
  # small job; the CLI's graph is crmsync's own, fixed and tested.
  if "--no_pipeline_type_check" not in args:
    args.append("--no_pipeline_type_check")
  runner = [a for a in args if a.startswith("--runner")]
  if not runner:
    args.append(f"--runner={PYTHON_RUNNER}")
  else:
    for i, a in enumerate(args):
      if a in ("--runner=DirectRunner", "--runner=directrunner"):
        args[i] = f"--runner={PYTHON_RUNNER}"
      elif a == "--runner" and i + 1 < len(args) and args[i + 1].lower() == (
          "directrunner"):
        args[i + 1] = PYTHON_RUNNER
  return args


def _check_flags(command: str, extra) -> None:
  """Flags that are neither crmsync's nor a Beam pipeline option's are an
  error (ConfigError), before anything runs: Beam would only warn that it
  discards them, and run the job without what they asked for."""
  if not extra:
    return  # nothing to check: skip importing every runner's options
  import importlib

  from apache_beam.options.pipeline_options import (PipelineOptions,
                                                    _BeamArgumentParser)

  from crmsync.transforms.errors import ConfigError
  # Modules that register options of their own when imported: the runners
  # crmsync runs on, file systems, and crmsync's (--batch_rows).
  for module in ("apache_beam.runners.portability.fn_api_runner",
                 "apache_beam.runners.portability.portable_runner",
                 "apache_beam.runners.portability.flink_runner",
                 "apache_beam.runners.portability.spark_runner",
                 "apache_beam.io.aws.s3filesystem", "crmsync.pipelines.job",
                 "crmsync.pipelines.runners"):
    try:
      importlib.import_module(module)
    except ImportError:  # an optional dependency: its options are unused
      pass

  class Parser(_BeamArgumentParser):

    def error(self, message):  # a bad value: one line, exit 2
      if not message.startswith("ambiguous option: "):
        raise ConfigError(message)

  # As Beam parses them (PipelineOptions.get_all_options).
  parser = Parser(allow_abbrev=False)
  classes = {}
  for cls in PipelineOptions.__subclasses__():
    classes.setdefault(str(cls), cls)
  for cls in classes.values():
    cls._add_argparse_args(parser)  # pylint: disable=protected-access
  _, unknown = parser.parse_known_args(list(extra))
  if not unknown:
    return
  flags = [a.split("=", 1)[0] for a in unknown if a.startswith("-")]
  if not flags:
    raise ConfigError(f"unexpected argument {unknown[0]!r} (crmsync "
                      f"{command} takes one config file)")
  known = _own_flags(command) + [
      o for action in parser._actions for o in action.option_strings]
  close = difflib.get_close_matches(flags[0], known, n=1)
  raise ConfigError(f"unknown option {flags[0]}"
                    + (f" (did you mean {close[0]}?)" if close else "")
                    + f": neither an option of crmsync {command} nor a Beam "
                    f"pipeline option")


def _own_flags(command: str):
  """The flags of `crmsync COMMAND` itself (--sample, --set, ...)."""
  parser = _parser()
  sub = next(a for a in parser._actions
             if isinstance(a, argparse._SubParsersAction))
  return [o for a in sub.choices[command]._actions
          for o in a.option_strings]


def _describe(plan):
  lines = [f"original: {', '.join(plan.original_files)} "
           f"({len(plan.original_header)} columns)"]
  for s in plan.sources:
    mapped = {k: v for k, v in s.spec.rename.items()}
    lines.append(f"enriched {s.spec.name}: {', '.join(s.files)}; keys "
                 f"{', '.join(s.keys)}; keeps {', '.join(s.kept) or '-'}"
                 + (f"; maps {mapped}" if mapped else ""))
  lines.extend(plan.dialect_lines())
  c = plan.config
  lines.append(f"conflicts: {c.conflicts.default}"
               + (f" ({c.conflicts.columns})" if c.conflicts.columns else "")
               + f"; duplicates: {c.duplicates}")
  lines.append(f"join: {plan.join} (enriched files: "
               f"{plan.enriched_bytes / 2**20:,.1f} MB)")
  lines.append(f"output: {c.output.path}-*-of-{c.output.shards:05d}."
               f"{c.output.format}, "
               f"reports in {c.output.reports_dir}")
  return "\n".join(lines)


def _run(args, extra) -> int:
  import apache_beam as beam
  from apache_beam.options.pipeline_options import PipelineOptions

  from crmsync.pipelines import runners, storage
  from crmsync.pipelines.config import load_config
  from crmsync.pipelines.job import CrmsyncOptions, build_pipeline, plan_job
  from crmsync.pipelines.lock import RunLock
  from crmsync.transforms.publish import publishing_path, recover
  from crmsync.transforms import progress, worker
  from crmsync.transforms.errors import ConfigError
  from crmsync.transforms.writing import temp_dir

  _check_flags(args.command, extra)
  worker.prepare()
  run_id = args.run_id or uuid.uuid4().hex[:12]
  config = load_config(args.config, args.overrides, run_id=run_id)
  if storage.uses_s3(config):
    startup.load_s3()  # held back until a job needs it
    worker.prepare()  # its S3 client cache too
  if args.sample is not None and args.sample < 1:
    raise ConfigError("--sample: N must be 1 or more")
  beam_args = _beam_args(extra)
  if args.command == "run":
    beam_args = runners.portable_args(beam_args)
  options = PipelineOptions(beam_args + storage.storage_args(config,
                                                             beam_args))
  storage.configure(options)
  storage.check_buckets(storage.job_paths(config), options)
  plan = plan_job(config)
  if args.command == "validate":
    from crmsync.pipelines.suggest import sample_match_rates
    print(_describe(plan))
    print("\n".join(sample_match_rates(plan)))
    print("config OK")
    return EXIT_OK
  storage.check_local_outputs(config)
  own = options.view_as(CrmsyncOptions)
  _LOG.info("%s", _describe(plan).replace("\n", "; "))
  start = time.monotonic()
  lease_store = (storage.client(options)
                 if "://" in config.output.path else None)
  with RunLock(config.output.path, run_id, lease_store):  # exit 2: taken
    recover(config.output.path)  # a publish a killed run left half done
    p = beam.Pipeline(options=options)
    build_pipeline(p, plan, own.batch_rows, run_id, sample=args.sample,
                   split_bytes=own.split_bytes)
    if _terminal_bar(args, extra):
      progress.show_bar(sum(plan.original_sizes) + plan.enriched_bytes,
                        sys.stderr)
    startup.resume_collector()  # what was built lives through the run
    try:
      p.run().wait_until_finish()
    except Exception as e:  # a worker failure: one line, exit 1
      progress.hide_bar()
      _LOG.debug("run failed", exc_info=True)
      if not os.path.exists(publishing_path(config.output.path)):
        # (else it holds the plan the next run completes the publish by)
        _remove_quietly(temp_dir(config.output.path, run_id))
      rejected = _too_many_rejected(e)
      if rejected:  # bad input found on a worker: exit 2
        _emit("error", f"crmsync: error: {rejected}", exit_code=2)
        return EXIT_BAD_INPUT
      _emit("error", f"crmsync: run failed: {_root_message(e)}",
            exit_code=1)
      return EXIT_FAILED
  progress.hide_bar()
  elapsed = time.monotonic() - start
  if not args.quiet:
    _print_summary(config, elapsed)
  return EXIT_OK


def _terminal_bar(args, extra) -> bool:
  """A progress bar: on a terminal, in text, not --quiet, and with the
  job run in this process (Beam's Python runner, one process)."""
  runner = _beam_args(extra)
  return (sys.stderr.isatty() and not args.quiet and
          args.log_format == "text" and
          f"--runner={PYTHON_RUNNER}" in runner and
          not any("multi_processing" in a for a in runner))


def _remove_quietly(folder: str):
  """A failed run's local temporary folder (a full disk, say). Not on an
  object store: that may be what failed, and its client retries for
  minutes; the next successful run removes whatever is left anyway."""
  import shutil
  if "://" not in folder:
    shutil.rmtree(folder, ignore_errors=True)


def _too_many_rejected(e: BaseException) -> str:
  """The message of a TooManyRejectedError raised on a worker, "" if `e` is
  something else. The in-process runner re-raises it; Flink and Spark
  return only text, where its class name marks it."""
  from crmsync.transforms.errors import TooManyRejectedError
  name = TooManyRejectedError.__name__
  found = re.findall(rf"^.*?\b{name}: (.*)$", str(e), re.M)
  text = str(e) if isinstance(e, TooManyRejectedError) else (
      found[-1] if found else "")
  return re.sub(r" \[while running '[^']*'\]$", "", text.strip())


def _root_message(e: BaseException) -> str:
  """One line out of a runner's nested error: the innermost exception and
  the step it happened in."""
  text = str(e).strip()
  step = re.findall(r"\[while running '([^']+)'\]", text)
  errors = re.findall(r"^\s*((?:[\w.]+\.)?\w*(?:Error|Exception|Invalid)"
                      r"\b:.*)$", text, re.M)
  message = errors[-1].strip() if errors else (
      text.splitlines()[0] if text else type(e).__name__)
  return message[:400] + (f" (in step {step[-1]})" if step else "")


def _print_summary(config, elapsed: float):
  from apache_beam.io.filesystems import FileSystems
  path = FileSystems.join(config.output.reports_dir, "stats.json")
  with FileSystems.open(path) as f:
    stats = json.loads(f.read())
  o = stats["original"]
  rate = o["rows_read"] / elapsed if elapsed else 0
  if _OUTPUT["format"] == "json":
    _emit("summary", "crmsync: done", seconds=round(elapsed, 2),
          rows_per_second=round(rate), output=config.output.path,
          reports=config.output.reports_dir, stats=stats)
    return
  print(f"crmsync: {o['rows_read']} original rows read, {o['rows_written']} "
        f"written, {stats['rows_matched']} matched "
        f"({stats['match_rate']:.1%}), {o['rows_rejected']} rejected; "
        f"{sum(stats['conflicts'].values())} conflicts; "
        f"{elapsed:.1f} s ({rate:,.0f} rows/s)", file=sys.stderr)
  for name, e in stats["enriched"].items():
    print(f"  {name}: {e['rows_read']} rows, matched "
          f"{e['original_rows_matched']} original rows "
          f"{e['matches_per_key']}, {e['rows_unmatched']} unmatched, "
          f"{e['rows_rejected']} rejected", file=sys.stderr)
  print(f"  output: {config.output.path}-*-of-{config.output.shards:05d}."
        f"{config.output.format};"
        f" reports: {config.output.reports_dir}/", file=sys.stderr)


def _suggest(args) -> int:
  _setup_logging(False)
  from apache_beam.options.pipeline_options import PipelineOptions

  from crmsync.pipelines import storage
  from crmsync.pipelines.suggest import suggest
  from crmsync.transforms.errors import CrmsyncError
  # s3:// samples: the endpoint and region from the environment.
  storage.configure(PipelineOptions(storage.storage_args(None, [])))
  try:
    config, profile = suggest(args.original, args.enriched, args.sample_rows,
                              args.merged)
  except CrmsyncError as e:
    print(f"crmsync: error: {e}", file=sys.stderr)
    return EXIT_BAD_INPUT
  if args.output:
    with open(args.output, "w", encoding="utf-8") as f:
      f.write(config)
    print(profile)
    print(f"wrote {args.output}; check it, then: crmsync run {args.output}")
  else:
    print(config)
    print(profile, file=sys.stderr)
  return EXIT_OK


def _dev(args) -> int:
  _setup_logging(False)
  if args.service == "s3":
    from crmsync.pipelines.dev.s3 import serve_s3
    return serve_s3(args.dir, args.port, args.demo_data)
  if args.service in ("flink", "spark"):
    from crmsync.pipelines.dev.clusters import serve_cluster
    return serve_cluster(args.service, args.dir, args.workers)
  from crmsync.pipelines.dev.jobservers import JOB_SERVERS, job_server_jar
  from crmsync.transforms.errors import CrmsyncError
  try:
    for kind in JOB_SERVERS:
      print(f"{kind} job server: {job_server_jar(kind)}")
  except CrmsyncError as e:
    print(f"crmsync: error: {e}", file=sys.stderr)
    return EXIT_BAD_INPUT
  return EXIT_OK


def main(argv=None) -> int:
  args, extra = _parser().parse_known_args(argv)
  if args.command != "run":  # only a run's start-up gains (dev serves on)
    startup.resume_collector()
  if args.command not in ("run", "validate"):  # a job's config tells those
    startup.load_s3()
  if extra and args.command not in ("run", "validate"):
    print(f"crmsync: error: unknown arguments {' '.join(extra)}",
          file=sys.stderr)
    return EXIT_BAD_INPUT
  if args.command == "demo-data":
    from crmsync.pipelines.demo_data import write_demo_data
    write_demo_data(args.directory, args.rows)
    return EXIT_OK
  if args.command == "dev":
    return _dev(args)
  if args.command == "suggest":
    return _suggest(args)
  _setup_logging(args.verbose, args.quiet, args.log_format)
  # Imported after logging is set up: importing Beam logs.
  from crmsync.transforms.errors import CrmsyncError
  try:
    return _run(args, extra)
  except CrmsyncError as e:
    _emit("error", f"crmsync: error: {e}", exit_code=2)
    return EXIT_BAD_INPUT


def console_main() -> None:
  """The `crmsync` command: main(), then an exit that skips the
  interpreter's teardown (freeing every module and array Beam and pyarrow
  loaded: a noticeable share of a short run, with nothing left to do; the
  process does not load the IOs its job does not use: pipelines/startup.py).
  The exit handlers registered after this one still run first (atexit runs
  them last in, first out: Beam's job servers are stopped);
  this one flushes the streams and the log, then exits with main's code,
  or SystemExit's (argparse's), 130 after Ctrl-C, 1 after an uncaught
  exception (whose traceback is already printed). Handlers registered
  before it (logging's, which it stands in for) do not run."""
  code = [1]
  startup.skip_unused()  # crmsync's own job only: IOs it never uses
  startup.pause_collector()  # main resumes it (a run: as the run starts)

  def exit_now():
    for stream in (sys.stdout, sys.stderr):
      try:
        stream.flush()
      except (OSError, ValueError):  # a closed pipe (crmsync ... | head)
        pass
    logging.shutdown()
    os._exit(code[0])

  atexit.register(exit_now)
  try:
    code[0] = main() or 0
  except SystemExit as stop:  # argparse's --help and usage errors, dev's
    code[0] = (stop.code if isinstance(stop.code, int) else
               0 if stop.code is None else 1)
    raise
  except KeyboardInterrupt:
    code[0] = 130  # the shell's code for SIGINT
    raise
  sys.exit(code[0])


if __name__ == "__main__":
  console_main()
