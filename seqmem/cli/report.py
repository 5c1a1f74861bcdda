"""`seqmem report`: tables of finished runs, and the page, figures and files they can be written to."""

from __future__ import annotations

import sys

from seqmem.cli.parser import Parser, add_verb


def add(parser: Parser, verbs) -> None:
    report = add_verb(
        parser, verbs, "report", help="tables of finished runs (a sweep's grouped by its axes), and an HTML page with plots",
        description="Print each folder's table: a sweep's points grouped by its axes less the seed (mean and "
                    "min..max over seeds), loose runs one a row; the memoryless baseline beside every score.")
    report.add_argument("runs", nargs="*", default=["runs"], help="run directories, sweep folders or folders of runs")
    report.add_argument("--format", default="text", choices=("text", "markdown", "csv", "json", "jsonl"),
                        help="the tables as text (default), Markdown, or a row a line of numbers: csv, json (one "
                             "list), jsonl (one object a line) with each row's settings, tags, seeds, mean, min, max")
    report.add_argument("--wide", action="store_true", help="every score in the text and Markdown tables (by default "
                        "the columns that decide: recall, memoryless, solved, budget and size)")
    report.add_argument("--output", metavar="FILE", help="write the tables to FILE instead of standard output")
    report.add_argument("--markdown", action="store_const", const="markdown", dest="format",
                        help="the same as --format markdown")
    report.add_argument("--html", metavar="FILE", help="also write a self-contained HTML page with the tables and "
                                                         "plots (learning curves, recall by delay, recall by time)")
    report.add_argument("--csv", metavar="FILE", help="also write the (first) table as CSV, numbers unformatted")
    report.add_argument("--figures", metavar="DIR", help="also write each figure as a PNG file into DIR")
    report.add_argument("--choose", metavar="KEY", help="a tuning axis (e.g. train.lr): also show, for each group of "
                        "the other axes, only its value with the best mean validation recall")
    report.add_argument("--merge", action="store_true", help="read the sweep folders given as one sweep (the passes "
                        "of one sweep file run into folders of their own, e.g. a grid on one seed, then more seeds)")
    report.set_defaults(run=run)


def run(args) -> None:
    from seqmem.report.command import report  # the report's machinery: only for a command that computes

    report(args.runs, args.format, args.output, args.html, args.csv, args.figures, args.choose, say=print,
           err=lambda line: print(line, file=sys.stderr), wide=args.wide, merge=args.merge)
