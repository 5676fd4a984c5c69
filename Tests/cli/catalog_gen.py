#!/usr/bin/env python3
"""Deterministic clickstream JSON Lines for the catalog e2e tests (canonical layout).
Usage: catalog_gen.py ROWS SEED > out.jsonl
Every event has a session_id, or neither session_id nor user_id (so counts are order-free)."""
import json, random, sys

rows, seed = int(sys.argv[1]), int(sys.argv[2])
rnd = random.Random(seed)
start = 1714521600  # 2024-05-01T00:00:00Z
events = ["view", "click", "add_to_cart", "search", "purchase"]
screens = ["home", "pdp", "plp", "cart", "search"]
for i in range(rows):
    t = start + rnd.randrange(0, 6 * 3600)
    e = {"tenant": rnd.choice(["myntra", "jabong"]), "app": rnd.choice(["shop", "lite"]),
         "platform": rnd.choice(["android", "ios", "web"]), "app_version": rnd.choice(["4.1", "4.2", 5]),
         "event": rnd.choice(events), "screen": rnd.choice(screens)}
    if rnd.random() < 0.9:
        e["session_id"] = "s%d" % rnd.randrange(0, 400)
        e["user_id"] = "u%d" % rnd.randrange(0, 100)
    r = rnd.random()
    e["ts"] = (t * 1000 + rnd.randrange(1000)) if r < 0.3 else (t if r < 0.6 else
              "%04d-%02d-%02dT%02d:%02d:%02dZ" % (2024, 5, 1, (t - start) // 3600, (t - start) // 60 % 60, (t - start) % 60))
    body = {}
    if rnd.random() < 0.7:
        body["items"] = [{"sku": rnd.choice(["A", 1, None]), "qty": rnd.randrange(5)} for _ in range(rnd.randrange(3))]
    if rnd.random() < 0.5:
        body["filters"] = {"brand": rnd.choice(["nike", "puma"]), "size": rnd.choice([[], ["m"], "l", 42, True])}
    if rnd.random() < 0.2:
        body["q"] = "caf\u00e9 \"x\"\n"
    e["body"] = body
    print(json.dumps(e, ensure_ascii=rnd.random() < 0.5))
