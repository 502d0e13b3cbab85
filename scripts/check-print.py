#!/usr/bin/env python3
"""Checks a printed hetbench report (scripts/check-report.sh runs it).

Usage: check-print.py REPORT.html ALL.txt PAGE1.txt BBOX.html
  ALL.txt, PAGE1.txt: `pdftotext -raw` of the whole PDF and of page 1
  BBOX.html: `pdftotext -bbox` of the whole PDF

-raw keeps the order Chromium paints in: a table cell's wrapped lines stay
together, cell after cell, row after row; so with whitespace removed, a row
that printed whole is one run of the text. Checks: page 1 holds every cell
and note of the summary and nothing after it; every row of the results
table, headings included, is whole in the text; no word lies off the page.
"""
import re
import sys
from html.parser import HTMLParser


class Tables(HTMLParser):
    """Every table's rows of cell texts (entities decoded), keyed by the <h2>
    above it, or `summary` inside the summary section; the summary's notes."""

    def __init__(self):
        super().__init__()
        self.tables, self.h2, self.in_h2, self.row, self.cell = [], "", False, None, None
        self.in_summary, self.summary_notes, self.li = False, [], None

    def handle_starttag(self, tag, attrs):
        if tag == "h2":
            self.in_h2, self.h2 = True, ""
        elif tag == "section" and ("id", "summary") in attrs:
            self.in_summary = True
        elif tag == "table":
            self.tables.append(("summary" if self.in_summary else self.h2, []))
        elif tag == "tr":
            self.row = []
            self.tables[-1][1].append(self.row)
        elif tag in ("td", "th"):
            self.cell = ""
        elif tag == "li" and self.in_summary:
            self.li = ""

    def handle_endtag(self, tag):
        if tag == "h2":
            self.in_h2 = False
        elif tag == "section":
            self.in_summary = False
        elif tag in ("td", "th"):
            self.row.append(self.cell)
            self.cell = None
        elif tag == "li" and self.li is not None:
            self.summary_notes.append(self.li)
            self.li = None

    def handle_data(self, d):
        if self.in_h2:
            self.h2 += d
        if self.cell is not None:
            self.cell += d
        if self.li is not None:
            self.li += d


def squash(s):
    return re.sub(r"\s+", "", s)


def main(report, all_txt, page1_txt, bbox_html):
    t = Tables()
    t.feed(open(report, encoding="utf-8").read())
    text = squash(open(all_txt, encoding="utf-8").read())
    page1 = squash(open(page1_txt, encoding="utf-8").read())
    tables = {}
    for name, rows in t.tables:
        tables.setdefault(name, rows)
    errors = []

    # Page 1: every cell of the summary and every note, and not the rest.
    summary = tables.get("summary") or []
    if len(summary) < 2:
        errors.append(f"the report has no summary table ({len(summary)} rows)")
    for row in summary:
        for cell in row:
            if squash(cell) not in page1:
                errors.append(f"summary cell not on page 1: {cell!r}")
    for note in t.summary_notes:
        if squash(note) not in page1:
            errors.append(f"summary note not on page 1: {note!r}")
    if "Generated" in page1:
        errors.append("page 1 goes on past the summary (no page break after it)")

    # The results table: each row whole, in order, headings included.
    results = tables.get("Results") or []
    if len(results) < 2:
        errors.append("the report has no results table")
    for row in results:
        if squash("".join(row)) not in text:
            missing = [c for c in row if squash(c) not in text]
            errors.append(f"results row not whole in the PDF text: {row[:3]}, missing cells {missing}")

    # Nothing outside the page: every word's box within the page's width.
    bbox = open(bbox_html, encoding="utf-8").read()
    word = re.compile(r'<word xMin="([-\d.]+)" yMin="[-\d.]+" xMax="([-\d.]+)"[^>]*>([^<]*)</word>')
    pages = re.findall(r'<page width="([\d.]+)" height="[\d.]+">(.*?)</page>', bbox, re.S)
    for width, body in pages:
        for x0, x1, w in word.findall(body):
            if float(x0) < 0 or float(x1) > float(width) + 0.5:
                errors.append(f"word off the page: {w!r} at x {x0}..{x1} of {width}")

    # The first few of each kind, and how many there are.
    kinds = {}
    for e in errors:
        kinds.setdefault(e.split(":")[0], []).append(e)
    for kind, es in kinds.items():
        for e in es[:5]:
            print("check-print:", e, file=sys.stderr)
        if len(es) > 5:
            print(f"check-print: ... {len(es)} of this kind ({kind})", file=sys.stderr)
    if errors:
        return 1
    print(
        f"print: {len(pages)} pages; the summary ({len(summary) - 1} rankings, "
        f"{len(t.summary_notes)} notes) on page 1; {len(results) - 1} results rows whole"
    )
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    sys.exit(main(*sys.argv[1:]))
