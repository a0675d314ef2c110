#!/usr/bin/env python3
"""Validate train.csv and heldout.csv (Python 3 standard library only).

Checks: the header is exactly `subject,body,type`; every row has three fields
and a known type; no row has both subject and body empty; no exact duplicate
anywhere (within a file or across the two); no near-duplicate across the two
files (Jaccard similarity of the word sets of subject+body > 0.8). Within a
file, near-duplicates are reported as warnings. Prints the counts per type
and exits non-zero on any error.

    python3 check.py [--threshold 0.8]
"""
import collections
import csv
import pathlib
import re
import sys

HERE = pathlib.Path(__file__).resolve().parent
FILES = ("train.csv", "heldout.csv")
HEADER = ["subject", "body", "type"]
GOVERNED = (
    "application_access", "privileged_access", "access_removal",
    "service_account", "api_key", "ai_agent_tool_access", "break_glass",
)
HELPDESK = (
    "password_reset", "account_unlock", "mfa_replacement", "hardware",
    "software_fault", "network_fault", "how_to",
)
TYPES = GOVERNED + HELPDESK
WORD = re.compile(r"[a-z0-9]+")


def words(subject, body):
    return frozenset(WORD.findall(f"{subject} {body}".lower()))


def jaccard(a, b):
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)


def load(name, errors):
    path = HERE / name
    rows = []
    with open(path, encoding="utf-8", newline="") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header != HEADER:
            errors.append(f"{name}: header is {header!r}, want {HEADER!r}")
        for n, rec in enumerate(reader, start=2):
            where = f"{name} record {n}"
            if len(rec) != 3:
                errors.append(f"{where}: {len(rec)} fields, want 3")
                continue
            subject, body, typ = rec
            if typ not in TYPES:
                errors.append(f"{where}: unknown type {typ!r}")
            if not subject.strip() and not body.strip():
                errors.append(f"{where}: subject and body both empty")
            rows.append((where, subject, body, typ))
    return rows


def main(argv):
    threshold = 0.8
    if len(argv) == 3 and argv[1] == "--threshold":
        threshold = float(argv[2])
    errors, warnings = [], []
    data = {name: load(name, errors) for name in FILES}

    seen = {}
    for name in FILES:
        for where, subject, body, typ in data[name]:
            key = (" ".join(subject.lower().split()), " ".join(body.lower().split()))
            if key in seen:
                errors.append(f"{where}: exact duplicate of {seen[key]}")
            else:
                seen[key] = where

    sets = {name: [(r[0], words(r[1], r[2]), r[3]) for r in data[name]] for name in FILES}
    train, held = sets[FILES[0]], sets[FILES[1]]
    for hw, hs, ht in held:
        for tw, ts, tt in train:
            j = jaccard(hs, ts)
            if j > threshold:
                errors.append(f"near-duplicate across files (Jaccard {j:.2f}): {hw} ~ {tw}")
    for name in FILES:
        rows = sets[name]
        for i in range(len(rows)):
            for k in range(i + 1, len(rows)):
                j = jaccard(rows[i][1], rows[k][1])
                if j > threshold:
                    warnings.append(f"near-duplicate within {name} (Jaccard {j:.2f}): {rows[i][0]} ~ {rows[k][0]}")

    counts = {name: collections.Counter(r[3] for r in data[name]) for name in FILES}
    print(f"{'type':<22}{'group':<10}{'train':>7}{'heldout':>9}")
    for typ in TYPES:
        group = "governed" if typ in GOVERNED else "helpdesk"
        print(f"{typ:<22}{group:<10}{counts[FILES[0]][typ]:>7}{counts[FILES[1]][typ]:>9}")
    print(f"{'total':<32}{len(data[FILES[0]]):>7}{len(data[FILES[1]]):>9}")

    for w in warnings:
        print("warning:", w)
    for e in errors:
        print("error:", e)
    if errors:
        print(f"FAIL: {len(errors)} error(s), {len(warnings)} warning(s)")
        return 1
    print(f"OK: {len(warnings)} warning(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
