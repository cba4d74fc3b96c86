"""reports/report.html: the run's stats.json as charts, in one
self-contained file (plotly, its JavaScript inlined: it opens with no
network).

Charts: per vendor, the original rows matched by each key and its rows
that matched nothing; the fill rate of each column before and after; the
conflicts per column, by strategy; the rejected rows by reason; the
distribution of match scores (the weakest matching source's score of
each matched row).
"""

import html
from typing import Dict, List, Optional

# Score histogram bins: [0, 0.05), ..., [0.95, 1.0]; stats count them.
SCORE_BINS = 20


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
  import plotly.graph_objects as go
  import plotly.io as pio

  figures = [_matches(go, summary), _fill(go, summary),
             _conflicts(go, summary, strategies),
             _rejected(go, rejected), _scores(go, summary)]
  parts = []
  for fig in figures:
    if fig is None:
      continue
    fig.update_layout(template="plotly_white", height=420,
                      margin=dict(l=60, r=20, t=60, b=60))
    # A fixed id per chart (plotly's default is random): the same run
    # gives the same bytes on every runner.
    parts.append(pio.to_html(fig, full_html=False,
                             include_plotlyjs=not parts,
                             div_id=f"chart-{len(parts) + 1}",
                             config={"displaylogo": False}))
  original = summary["original"]
  facts = (f"{original['rows_read']:,} original rows read, "
           f"{original['rows_written']:,} written, "
           f"{summary['rows_matched']:,} matched "
           f"({summary['match_rate']:.1%}), "
           f"{summary['rows_rejected']:,} rejected")
  return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
          f"<title>{html.escape(title)}</title>"
          "<style>body{font-family:system-ui,sans-serif;margin:2em;}"
          "h1{font-size:1.4em}</style></head><body>"
          f"<h1>{html.escape(title)}</h1><p>{html.escape(facts)}</p>"
          + "".join(f"<section>{p}</section>" for p in parts)
          + "</body></html>\n")


def _matches(go, summary):
  sources = list(summary["enriched"])
  if not sources:
    return None
  keys = sorted({k for e in summary["enriched"].values()
                 for k in e["matches_per_key"]})
  fig = go.Figure([go.Bar(name=f"matched by {k}", x=sources, y=[
      summary["enriched"][s]["matches_per_key"].get(k, 0) for s in sources])
                   for k in keys] + [go.Bar(
                       name="vendor rows that matched nothing", x=sources,
                       y=[summary["enriched"][s]["rows_unmatched"]
                          for s in sources])])
  fig.update_layout(barmode="stack", title="Matches per vendor, by key",
                    yaxis_title="rows")
  return fig


def _fill(go, summary):
  fill = summary["fill_rate"]
  columns = list(fill)
  fig = go.Figure([
      go.Bar(name="before", x=columns,
             y=[fill[c]["before"] or 0 for c in columns]),
      go.Bar(name="after", x=columns, y=[fill[c]["after"] for c in columns])])
  fig.update_layout(barmode="group", title="Fill rate per column",
                    yaxis=dict(tickformat=".0%", range=[0, 1]))
  return fig


def _conflicts(go, summary, strategies):
  conflicts = summary["conflicts"]
  columns = list(conflicts)
  fig = go.Figure(go.Bar(
      x=[f"{c} ({strategies.get(c, '')})" for c in columns],
      y=[conflicts[c] for c in columns]))
  fig.update_layout(title="Conflicts per column (strategy)",
                    yaxis_title="cells")
  return fig


def _rejected(go, rejected):
  bars = []
  for source, reasons in rejected.items():
    names = sorted(reasons, key=lambda r: -reasons[r][0])
    bars.append(go.Bar(name=source, y=[_short(r) for r in names],
                       x=[reasons[r][0] for r in names], orientation="h"))
  fig = go.Figure(bars)
  fig.update_layout(title="Rejected rows by reason", xaxis_title="rows",
                    barmode="stack")
  return fig


def _scores(go, summary) -> Optional[object]:
  counts = summary.get("match_scores")
  if not counts:
    return None
  width = 1 / SCORE_BINS
  fig = go.Figure(go.Bar(x=[(i + 0.5) * width for i in range(SCORE_BINS)],
                         y=counts, width=width * 0.95))
  fig.update_layout(title="Match scores (weakest source per matched row)",
                    xaxis=dict(range=[0, 1], title="score"),
                    yaxis_title="rows")
  return fig


def _short(reason: str) -> str:
  reason = " ".join(reason.split())
  return reason if len(reason) <= 60 else reason[:57] + "..."
