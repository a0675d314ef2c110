#!/usr/bin/env python3
"""Build train.csv and heldout.csv from the hand-written ticket sources.

Each source file is source/<split>/<type>.txt: tickets separated by a line
holding only `%%`. The first line of a ticket is its subject (`-` for a
ticket with no subject, e.g. a chat message); the remaining lines are the
body, kept verbatim apart from leading/trailing blank lines. The type is the
file name. Nothing is generated or combined: every row is written by hand.

Rows are shuffled with a fixed seed so the CSVs do not come grouped by type;
running this twice gives byte-identical files.

    python3 source/build.py
"""
import csv
import pathlib
import random

HERE = pathlib.Path(__file__).resolve().parent
OUT = HERE.parent
SPLITS = ("train", "heldout")


def parse(path):
    text = path.read_text(encoding="utf-8")
    rows = []
    for block in text.split("\n%%\n"):
        lines = block.strip("\n").split("\n")
        if not lines or not "".join(lines).strip():
            continue
        subject = lines[0].strip()
        if subject == "-":
            subject = ""
        body = "\n".join(lines[1:]).strip("\n")
        rows.append((subject, body, path.stem))
    return rows


def main():
    for seed, split in enumerate(SPLITS, start=2026):
        rows = []
        for path in sorted((HERE / split).glob("*.txt")):
            rows.extend(parse(path))
        random.Random(seed).shuffle(rows)
        with open(OUT / f"{split}.csv", "w", encoding="utf-8", newline="") as f:
            w = csv.writer(f, quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n")
            w.writerow(["subject", "body", "type"])
            w.writerows(rows)
        print(f"{split}.csv: {len(rows)} rows")


if __name__ == "__main__":
    main()
