"""reports/report.html: the run's stats.json as charts, in one
self-contained file (plotly.js inlined: it opens with no network).

Charts: per vendor, the original rows matched by each key and its rows
that matched nothing; the fill rate of each column before and after; the
conflicts per column, by strategy; the rejected rows by reason; the
distribution of match scores (the weakest matching source's score of
each matched row).
"""

import html
import importlib.util
import json
import os
from typing import Dict, List, Optional

# Score histogram bins: [0, 0.05), ..., [0.95, 1.0]; stats count them.
SCORE_BINS = 20
HEIGHT = 420  # px, each chart


def score_bins(scores) -> List[int]:
  """Counts of `scores` (numpy, 0..1, NaN: unmatched) per bin."""
  import numpy as np
  scores = scores[~np.isnan(scores)]
  at = np.minimum((np.clip(scores, 0, 1) * SCORE_BINS).astype(int),
                  SCORE_BINS - 1)
  return np.bincount(at, minlength=SCORE_BINS).tolist()


def render(summary: dict, rejected: Dict[str, Dict[str, list]],
           strategies: Dict[str, str], title: str) -> str:
  """The page, from stats.json's `summary`, the rejected rows' reasons
  per input (report_parts.merge_rejected_summaries) and each column's
  conflict strategy."""
  figures = [_matches(summary), _fill(summary), _conflicts(summary, strategies),
             _rejected(rejected), _scores(summary)]
  template = json.loads(_plotly_file("templates/plotly_white.json"))
  parts = []
  for fig in figures:
    if fig is None:
      continue
    fig["layout"].update(template=template, height=HEIGHT,
                         margin=dict(l=60, r=20, t=60, b=60))
    # A fixed id per chart: the same run gives the same bytes on every
    # runner.
    parts.append(_chart(fig, f"chart-{len(parts) + 1}"))
  original = summary["original"]
  facts = (f"{original['rows_read']:,} original rows read, "
           f"{original['rows_written']:,} written, "
           f"{summary['rows_matched']:,} matched "
           f"({summary['match_rate']:.1%}), "
           f"{summary['rows_rejected']:,} rejected")
  return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
          f"<title>{html.escape(title)}</title>"
          "<style>body{font-family:system-ui,sans-serif;margin:2em;}"
          "h1{font-size:1.4em}</style>"
          f"<script>{_plotly_file('plotly.min.js')}</script>"
          "</head><body>"
          f"<h1>{html.escape(title)}</h1><p>{html.escape(facts)}</p>"
          + "".join(f"<section>{p}</section>" for p in parts)
          + "</body></html>\n")


def _plotly_file(name: str) -> str:
  """A file of plotly's package data (plotly.js, its templates), read
  without importing plotly: its Python side (graph objects, validators,
  narwhals) costs more than the whole page."""
  spec = importlib.util.find_spec("plotly")
  if spec is None:
    raise ModuleNotFoundError("report.html needs plotly (pip install "
                              "plotly)", name="plotly")
  path = os.path.join(spec.submodule_search_locations[0], "package_data",
                      name)
  with open(path, encoding="utf-8") as f:
    return f.read()


def _chart(fig: dict, div_id: str) -> str:
  """A chart's div and the plotly.js call that draws it (what
  plotly.io.to_html writes, with plotly.js once in the head)."""
  args = ", ".join(_script_json(x) for x in (
      div_id, fig["data"], fig["layout"],
      {"displaylogo": False, "responsive": True}))
  return (f'<div id="{div_id}" class="plotly-graph-div" '
          f'style="height:{HEIGHT}px; width:100%;"></div>'
          f"<script>Plotly.newPlot({args});</script>")


def _script_json(value) -> str:
  """JSON that cannot end the <script> it is in (a column name or a
  rejection reason quoting the file may hold "</script>")."""
  return (json.dumps(value, separators=(",", ":"), sort_keys=True)
          .replace("</", "<\\/").replace("<!--", "<\\!--"))


def _bar(**trace) -> dict:
  return dict(type="bar", **trace)


def _figure(bars: List[dict], title: str, **layout) -> dict:
  return {"data": bars, "layout": dict(title=dict(text=title), **layout)}


def _axis(title: str, **axis) -> dict:
  return dict(title=dict(text=title), **axis)


def _matches(summary):
  sources = list(summary["enriched"])
  if not sources:
    return None
  keys = sorted({k for e in summary["enriched"].values()
                 for k in e["matches_per_key"]})
  bars = [_bar(name=f"matched by {k}", x=sources, y=[
      summary["enriched"][s]["matches_per_key"].get(k, 0) for s in sources])
          for k in keys]
  bars.append(_bar(name="vendor rows that matched nothing", x=sources,
                   y=[summary["enriched"][s]["rows_unmatched"]
                      for s in sources]))
  return _figure(bars, "Matches per vendor, by key", barmode="stack",
                 yaxis=_axis("rows"))


def _fill(summary):
  fill = summary["fill_rate"]
  columns = list(fill)
  return _figure(
      [_bar(name="before", x=columns,
            y=[fill[c]["before"] or 0 for c in columns]),
       _bar(name="after", x=columns, y=[fill[c]["after"] for c in columns])],
      "Fill rate per column", barmode="group",
      yaxis=dict(tickformat=".0%", range=[0, 1]))


def _conflicts(summary, strategies):
  conflicts = summary["conflicts"]
  columns = list(conflicts)
  return _figure(
      [_bar(x=[f"{c} ({strategies.get(c, '')})" for c in columns],
            y=[conflicts[c] for c in columns])],
      "Conflicts per column (strategy)", yaxis=_axis("cells"))


def _rejected(rejected):
  bars = []
  for source, reasons in rejected.items():
    names = sorted(reasons, key=lambda r: -reasons[r][0])
    bars.append(_bar(name=source, y=[_short(r) for r in names],
                     x=[reasons[r][0] for r in names], orientation="h"))
  return _figure(bars, "Rejected rows by reason", xaxis=_axis("rows"),
                 barmode="stack")


def _scores(summary) -> Optional[dict]:
  counts = summary.get("match_scores")
  if not counts:
    return None
  width = 1 / SCORE_BINS
  return _figure(
      [_bar(x=[(i + 0.5) * width for i in range(SCORE_BINS)], y=counts,
            width=width * 0.95)],
      "Match scores (weakest source per matched row)",
      xaxis=_axis("score", range=[0, 1]), yaxis=_axis("rows"))


def _short(reason: str) -> str:
  reason = " ".join(reason.split())
  return reason if len(reason) <= 60 else reason[:57] + "..."
