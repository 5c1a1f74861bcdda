"""What `seqmem report` does once its arguments are parsed: every output checked writable before anything is
read, the folders collected, the tables rendered in the chosen format, the page and figures written.

Formats: `text` and `markdown` (the tables as people read them), `csv`, `json` (one list) and `jsonl` (one
object a line), these three a row a table row with numbers unformatted: the folder, the row's settings and
tags, `runs` and `seeds`, each score's mean with `KEY min` and `KEY max` over the row's runs.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from seqmem.errors import ConfigError
from seqmem.report.collect import chosen_section, collect, merged
from seqmem.report.outputs import check_outputs
from seqmem.report.page import write_figures, write_page
from seqmem.report.profile import profile_text
from seqmem.report.tables import data_rows, readable, table
from seqmem.run.atomic import atomic_write, check_writable
from seqmem.sweeps.horizon import horizon_text

FORMATS = ("text", "markdown", "csv", "json", "jsonl")


def render(sections: list, fmt: str, wide: bool = False) -> str:
    """The sections' tables as one text in `fmt` (ending in a newline): text and Markdown with the deciding
    columns, or every score with `wide`; the data formats always with every score."""
    if fmt in ("text", "markdown"):
        parts = []
        for section in sections:
            if len(sections) > 1 or section.by is not None:
                parts.append(f"{section.title}:")
            if section.profile:  # a profile's own table says what it found; its runs' table only on request
                parts.append(profile_text(section.profile, wide))
                if wide:
                    parts.append(table(section.records, section.rows_by, markdown=fmt == "markdown", wide=True))
                else:
                    parts.append(f"({len(section.records)} runs: --wide shows them, --format csv every score)")
                continue
            parts.append(table(section.records, section.rows_by, markdown=fmt == "markdown", wide=wide))
            if section.horizon:
                parts.append(horizon_text(section.horizon))
        return "\n".join(parts) + "\n"
    rows = [row for section in sections for row in data_rows(section)]
    if fmt == "json":
        return json.dumps(rows, indent=2) + "\n"
    if fmt == "jsonl":
        return "".join(json.dumps(row) + "\n" for row in rows)
    head = list(dict.fromkeys(k for row in rows for k in row))
    out = io.StringIO()
    writer = csv.DictWriter(out, head, restval="", lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: "" if v is None else " ".join(map(str, v)) if isinstance(v, list) else v
                      for k, v in row.items()} for row in rows)
    return out.getvalue()


def report(runs: list[str], fmt: str = "text", output: str | None = None, html: str | None = None,
           csv_file: str | None = None, figures: str | None = None, choose: str | None = None, say=print,
           err=print, wide: bool = False, merge: bool = False) -> None:
    """Do the report: the tables through `say` (unless written to `output`), then a line a file written (through
    `err` where `say` carries CSV or JSON, so that stays clean to read). A damaged file is named through `err`
    in one line and the rest still shown; refused (ConfigError) where nothing at all can be read, or before
    anything is read where an output cannot be written."""
    if fmt not in FORMATS:
        raise ConfigError(f"--format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    check_outputs({"--output": output, "--html": html, "--csv": csv_file}, runs, {"--figures": figures})
    for flag_name, path in ("--output", output), ("--html", html), ("--csv", csv_file):
        if path is not None:
            check_writable(path, flag_name)
    if figures is not None:
        check_writable(figures, "--figures", folder=True)
    missing = [p for p in runs if not Path(p).exists()]
    if missing:
        raise ConfigError(f"{missing[0]} does not exist: give run directories, sweep folders or folders of runs")
    damaged: list[str] = []
    sections = [s for s in (collect(p, damaged) for p in runs) if s is not None]
    if not sections:
        if damaged:
            more = f" (and {len(damaged) - 1} more damaged files)" if len(damaged) > 1 else ""
            raise ConfigError(damaged[0] + more)
        raise ConfigError(f"no finished runs (summary.json) under {' '.join(runs)}: train or sweep first")
    for line in damaged:
        err(f"seqmem: warning: {line}")
    if merge:
        sections = [merged(sections)]
    if choose:
        sections += [chosen_section(s, choose) for s in sections]
    text = render(sections, fmt, wide)
    note = say if output is not None or fmt in ("text", "markdown") else err
    if output is None:
        say(readable(text).removesuffix("\n"))
    else:
        atomic_write(Path(output), lambda f: f.write(readable(text).encode()))
        note(f"{fmt} written to {output}")
    if csv_file is not None:
        atomic_write(Path(csv_file), lambda f: f.write(readable(render(sections[:1], "csv")).encode()))
        note(f"table written to {csv_file}")
    if html is not None:
        note(f"report written to {write_page(html, sections)}")
    if figures is not None:
        for path in write_figures(figures, sections):
            note(f"figure written to {path}")
