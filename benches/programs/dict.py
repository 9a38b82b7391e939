d = {}
for i in range(N):
    d["k" + str(i)] = i
hits = total = 0
for i in range(2 * N):
    v = d.get("k" + str(i))
    if v is not None:
        hits += 1
        total += v
for i in range(0, N, 3):
    del d["k" + str(i)]
print("dict " + str(N) + ": " + str(hits) + " " + str(total) + " " + str(len(d)))
