"""The merge job as a plain Beam pipeline file: `crmsync run` driven by
pipeline options only, for launchers that run `python FILE --opt=value ...`
and know no subcommands (Airflow's `BeamRunPythonPipelineOperator`).

    python .../crmsync/pipelines/beam_main.py --config=PATH
        [--set=KEY.PATH=VALUE ...] [--run_id=ID] [--run_date=YYYY-MM-DD]
        [--sample=N] [--quiet] [--verbose] [--log_format=text|json]
        [Beam pipeline options]

It is `crmsync run PATH` with the same options (crmsync.pipelines.cli.main
does the work: the same config loading and `--set` overrides, run id, Beam
options passthrough, logging, summary, and exit codes: 0 done; 2 bad input
or config, one line on stderr, nothing written, do not retry; 1 the run
failed, one line, a retry is safe). Differences, all for option-only
launchers: the config is `--config=PATH` instead of a positional argument;
`--run_id` and `--log_format` are also spelled with an underscore;
`--run_date` sets `{run_date}` (what `$CRMSYNC_RUN_DATE` does for `crmsync
run`: an operator cannot set the environment of the process it starts).
Relative paths, the config's own included, are relative to the working
directory the launcher starts it in.

How Airflow builds this command line (apache-airflow-providers-apache-beam
6.2, `providers/apache/beam/src/airflow/providers/apache/beam/` in
apache/airflow):

- `operators/beam.py`, `BeamRunPythonPipelineOperator.execute`: adds
  `labels={"airflow-version": "v2-..."}` to `pipeline_options`, lays them
  over `default_pipeline_options`, and turns every key into snake case
  (`convert_camel_to_snake`: `runId` becomes `run_id`).
- `hooks/beam.py`, `BeamHook.start_python_pipeline`: the `labels` dict
  becomes a list of `key=value` strings; then `_start_pipeline` runs
  `[py_interpreter, *py_options, py_file, f"--runner={runner}",
  *beam_options_to_args(options)]` with `subprocess.Popen` in the worker's
  working directory and environment, logs stdout at INFO and stderr at
  WARNING, and fails the task on any non-zero return code (so 1 and 2
  look alike to Airflow's retries; the log has the one line).
- `hooks/beam.py`, `beam_options_to_args(options)`: per key, `True` gives
  `--key`; `False` and `None` give nothing (older providers: `None` gave
  `--key`, `False` gave `--key=False`); a list gives `--key=ITEM` per item;
  a dict gives `--key=` its JSON; anything else `--key={value}`.

So `--runner=DirectRunner` (the operator's default runner) always comes
first, meaning Beam's in-process Python runner here as for `crmsync run`;
`--labels=airflow-version=...` is Beam's own (Google Cloud) option and
passes through unused; `"set": [...]` gives one `--set=` per override and
`"quiet": True` gives `--quiet`.

Runs as a file (`python /path/to/site-packages/crmsync/pipelines/
beam_main.py`) as well as a module (`python -m crmsync.pipelines.beam_main`):
absolute imports only, and its own folder is taken off `sys.path` when run
as a file, so that the sibling modules (`config.py`, `storage.py`, ...)
never shadow a top-level module of the same name.
"""

import os
import sys

if __name__ == "__main__" and sys.path and os.path.abspath(
    sys.path[0] or os.curdir) == os.path.dirname(os.path.abspath(__file__)):
  del sys.path[0]

import argparse  # noqa: E402
import datetime  # noqa: E402
import difflib  # noqa: E402

from crmsync.pipelines import cli  # noqa: E402

PROG = "crmsync: error: "


class OptionError(Exception):
  """A bad option of this file's own (not a Beam option): exit 2."""


class _Parser(argparse.ArgumentParser):

  def error(self, message):
    raise OptionError(message)


def _parser():
  # allow_abbrev=False: `--s` or `--se` are never taken for `--set` or
  # `--sample`, and Beam's `--setup_file` stays Beam's.
  p = _Parser(prog="beam_main.py", allow_abbrev=False,
              description="crmsync run, with the config as --config=PATH "
                          "(for Beam launchers such as Airflow's "
                          "BeamRunPythonPipelineOperator).")
  p.add_argument("--config", metavar="PATH", help="job config (YAML)")
  p.add_argument("--set", dest="overrides", action="append", default=[],
                 metavar="KEY.PATH=VALUE", help="override a config value "
                                                "(repeat for several)")
  p.add_argument("--run_id", "--run-id", dest="run_id",
                 help="the {run_id} of templated paths (default: new)")
  p.add_argument("--run_date", "--run-date", dest="run_date",
                 metavar="YYYY-MM-DD", help="the {run_date} of templated "
                 "paths (default: $CRMSYNC_RUN_DATE, else today)")
  p.add_argument("--sample", type=int, metavar="N",
                 help="run on the first N original rows only")
  p.add_argument("-q", "--quiet", action="store_true")
  p.add_argument("-v", "--verbose", action="store_true")
  p.add_argument("--log_format", "--log-format", dest="log_format",
                 choices=("text", "json"), default="text")
  return p


def crmsync_args(argv):
  """The arguments of `crmsync run` for this file's arguments.

  Args:
    argv: this file's arguments (without the program), as a launcher gives
      them: `--key=value`, `--key value` or `--flag`, in any order.
  Returns:
    (args, run_date): `args` a list of strings for `cli.main`, starting with
    "run" and the config path, then crmsync's own options, then every other
    argument unchanged and in order (Beam's options, checked by the CLI);
    `run_date` the `--run_date` value, or None.
  Raises:
    OptionError: no `--config`, or a bad value of one of this file's
      options (`--sample=x`, `--log_format=xml`, `--run_date=yesterday`).
  """
  args, rest = _parser().parse_known_args(list(argv))
  if not args.config:
    flags = [a.split("=", 1)[0] for a in rest if a.startswith("-")]
    close = difflib.get_close_matches("--config", flags, n=1)
    raise OptionError("--config=PATH (the job config, YAML) is required"
                      + (f" (is {close[0]} a misspelling of --config?)"
                         if close else ""))
  if args.run_date is not None:
    try:
      datetime.date.fromisoformat(args.run_date)
    except ValueError:
      raise OptionError(f"--run_date: {args.run_date!r} is not a date "
                        f"(YYYY-MM-DD)") from None
  # A path starting with "-" would read as an option.
  config = (os.path.join(os.curdir, args.config)
            if args.config.startswith("-") else args.config)
  out = ["run", config]
  out += [f"--set={item}" for item in args.overrides]
  if args.run_id is not None:
    out.append(f"--run-id={args.run_id}")
  if args.sample is not None:
    out.append(f"--sample={args.sample}")
  out += ["--quiet"] * args.quiet + ["--verbose"] * args.verbose
  out.append(f"--log-format={args.log_format}")
  return out + rest, args.run_date


def main(argv=None) -> int:
  """Runs the job as `crmsync run` would; returns its exit code (0, 1, 2).

  Args:
    argv: the arguments (default: sys.argv[1:]).
  """
  try:
    args, run_date = crmsync_args(sys.argv[1:] if argv is None else argv)
  except OptionError as e:
    print(f"{PROG}{e}", file=sys.stderr)
    return cli.EXIT_BAD_INPUT
  if run_date is not None:
    os.environ["CRMSYNC_RUN_DATE"] = run_date
  return cli.main(args)


if __name__ == "__main__":
  sys.exit(main())
