#!/usr/bin/env python3
"""Cuts one CSV event file into pieces at random line points, for the defining-property test.

usage: cut_files.py SRC OUTDIR SEED PIECES
Writes OUTDIR/part-NN.csv (some gzipped as .csv.gz, some with CRLF or a pandas index column),
each with the header, and prints a shell-ready plan on stdout: one line per `ingest` call,
holding the files of that batch, in a random order, with some files repeated.
"""
import gzip
import os
import random
import sys

src, outdir, seed, pieces = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
rng = random.Random(seed)
with open(src, "rb") as f:
    lines = f.read().split(b"\n")
header, rows = lines[0], [l for l in lines[1:] if l]
cuts = sorted(rng.sample(range(1, len(rows)), pieces - 1))
bounds = [0] + cuts + [len(rows)]
os.makedirs(outdir, exist_ok=True)
files = []
for i in range(pieces):
    chunk = rows[bounds[i]:bounds[i + 1]]
    style = rng.choice(["plain", "gzip", "crlf", "index"])
    h, body = header, chunk
    if style == "index":
        h = b"," + header
        body = [b"%d," % (bounds[i] + k) + r for k, r in enumerate(chunk)]
    sep = b"\r\n" if style == "crlf" else b"\n"
    data = sep.join([h] + body) + sep
    name = os.path.join(outdir, "part-%02d.csv%s" % (i, ".gz" if style == "gzip" else ""))
    if style == "gzip":
        with gzip.open(name, "wb", compresslevel=1) as g:
            g.write(data)
    else:
        with open(name, "wb") as g:
            g.write(data)
    files.append(name)
order = files[:]
rng.shuffle(order)
order += rng.sample(files, max(1, pieces // 4))  # some files delivered twice
batches = []
while order:
    k = rng.randint(1, 4)
    batches.append(order[:k])
    order = order[k:]
for b in batches:
    print(" ".join(b))
