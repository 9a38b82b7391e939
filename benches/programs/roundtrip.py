import json

items = [{"id": i, "name": "item" + str(i), "tags": ["a", "b", str(i % 7)], "score": i * 0.5, "ok": i % 2 == 0}
         for i in range(N)]
back = json.loads(json.dumps(items))
ids = score = oks = tags = 0
for it in back:
    ids += it["id"]
    score += it["score"]
    oks += 1 if it["ok"] else 0
    tags += len(it["tags"])
print("roundtrip " + str(N) + ": " + str(len(back)) + " " + str(ids) + " " + ("%.1f" % score) + " " + str(oks) + " " + str(tags))
