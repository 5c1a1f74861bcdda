"""The report as one self-contained HTML page: each section's table and figures, images embedded as data
URLs, so the file can be mailed or opened offline."""

from __future__ import annotations

import base64
import html
import time
from pathlib import Path

from seqmem.atomic import atomic_write
from seqmem.plots import FIGURES
from seqmem.report import COLUMNS, table_rows

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 72em; color: #222; }
table { border-collapse: collapse; font-size: 0.85em; margin: 1em 0; }
th, td { border-bottom: 1px solid #ddd; padding: 0.3em 0.6em; text-align: right; white-space: nowrap; }
th { background: #f4f4f4; }
td.label { text-align: left; }
img { max-width: 100%; margin: 0.5em 1em 0.5em 0; }
p.note { color: #555; font-size: 0.9em; }
"""


def html_table(head: list[str], rows: list[list[str]], labels: int) -> str:
    cells = ["<tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in head) + "</tr>"]
    for row in rows:
        cells.append("<tr>" + "".join(f'<td{" class=label" if i < labels else ""}>{html.escape(c)}</td>'
                                      for i, c in enumerate(row)) + "</tr>")
    return "<div style=\"overflow-x: auto\"><table>\n" + "\n".join(cells) + "\n</table></div>"


def horizon_table(horizon: dict) -> str:
    """The horizon's table and note; every value from horizon.json is escaped (a run folder travels)."""
    head = ["model", "horizon mean", "min", "max", "per seed"]
    rows = [[str(model), f"{h['mean']:.4g}", f"{h['min']:g}", f"{h['max']:g}",
             ", ".join(f"{s}: {v:g}" for s, v in h["seeds"].items())] for model, h in horizon["models"].items()]
    budget = ", ".join(f"{k} {v}" for k, v in horizon["budget"].items() if v is not None)
    text = {k: html.escape(str(horizon[k])) for k in ("key", "target", "start", "limit")}
    note = (f"The largest {text['key']} at which each model reaches validation recall >= "
            f"{text['target']} within the budget ({html.escape(budget)}), found by doubling and bisection "
            f"from {text['start']} (searched up to {text['limit']}); a horizon of 0 means even the "
            "smallest delay failed.")
    return f"<h3>Memory horizon</h3>\n<p class=note>{note}</p>\n" + html_table(head, rows, 1)


def section_html(section) -> str:
    head, rows = table_rows(section.records, section.table_by)
    parts = [f"<h2>{html.escape(section.title)}</h2>",
             "<p class=note>Test scores of each run's last evaluation; mean (min..max) over seeds; the "
             "memoryless baseline beside every score. Early stopping and the best step read validation only.</p>",
             html_table(head, rows, len(head) - len(COLUMNS))]
    if section.horizon:
        parts.append(horizon_table(section.horizon))
    for draw in FIGURES:
        image = draw(section)
        if image is not None:
            data = base64.b64encode(image).decode()
            parts.append(f'<img alt="{html.escape(draw.__name__.replace("_", " "))}" src="data:image/png;base64,{data}">')
    return "\n".join(parts)


def write_page(path: str | Path, sections: list) -> Path:
    """Write the page atomically and return its path."""
    body = "\n".join(section_html(s) for s in sections)
    page = (f"<!doctype html>\n<html lang=en>\n<head>\n<meta charset=utf-8>\n<title>seqmem report</title>\n"
            f"<style>{STYLE}</style>\n</head>\n<body>\n<h1>seqmem report</h1>\n"
            f"<p class=note>Written {time.strftime('%Y-%m-%d %H:%M')}.</p>\n{body}\n</body>\n</html>\n")
    path = Path(path)
    atomic_write(path, lambda f: f.write(page.encode()))
    return path


def write_figures(folder: str | Path, sections: list) -> list[Path]:
    """Each section's figures as PNG files, `<section>-<figure>.png`, written atomically."""
    written = []
    for i, section in enumerate(sections):
        prefix = Path(section.title).name or f"section{i}"
        for draw in FIGURES:
            image = draw(section)
            if image is not None:
                path = Path(folder) / f"{prefix}-{draw.__name__.replace('_', '-')}.png"
                atomic_write(path, lambda f, image=image: f.write(image))
                written.append(path)
    return written
