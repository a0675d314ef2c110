#!/usr/bin/env python3
"""Difficulty check, not Writ's classifier: a naive Bayes over word unigrams
and bigrams, trained on train.csv and scored on heldout.csv (stdlib only).

It shows how far plain word statistics get on this data, and which
confusions remain, so a real classifier's figure can be read against it.

    python3 source/baseline_nb.py [--errors]
"""
import collections
import csv
import math
import pathlib
import re
import sys

DATA = pathlib.Path(__file__).resolve().parent.parent
GOVERNED = {
    "application_access", "privileged_access", "access_removal",
    "service_account", "api_key", "ai_agent_tool_access", "break_glass",
}
WORD = re.compile(r"[a-z0-9]+")


def load(name):
    with open(DATA / name, encoding="utf-8", newline="") as f:
        return [(r["subject"] + " " + r["body"], r["type"]) for r in csv.DictReader(f)]


def features(text):
    w = WORD.findall(text.lower())
    return w + [a + "_" + b for a, b in zip(w, w[1:])]


def main(argv):
    train, held = load("train.csv"), load("heldout.csv")
    counts = collections.defaultdict(collections.Counter)
    prior = collections.Counter()
    vocab = set()
    for text, typ in train:
        prior[typ] += 1
        for f in features(text):
            counts[typ][f] += 1
            vocab.add(f)
    totals = {t: sum(c.values()) for t, c in counts.items()}
    alpha = 0.1

    def predict(text):
        fs = [f for f in features(text) if f in vocab]
        return max(counts, key=lambda t: math.log(prior[t]) + sum(
            math.log((counts[t][f] + alpha) / (totals[t] + alpha * len(vocab))) for f in fs))

    right = leaked = governed = 0
    confusions = collections.Counter()
    errors = []
    for text, typ in held:
        guess = predict(text)
        right += guess == typ
        if typ in GOVERNED:
            governed += 1
            leaked += guess not in GOVERNED
        if guess != typ:
            confusions[(typ, guess)] += 1
            errors.append((typ, guess, text))
    print(f"type accuracy on held-out: {right}/{len(held)} = {right / len(held):.3f}")
    print(f"governed sent to help-desk: {leaked}/{governed} = {leaked / governed:.3f}")
    for (want, got), n in confusions.most_common():
        print(f"  {n:3d}  {want} -> {got}")
    if "--errors" in argv:
        for want, got, text in errors:
            print(f"[{want} -> {got}] {text[:160]!r}")


if __name__ == "__main__":
    main(sys.argv)
