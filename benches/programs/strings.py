parts = []
for i in range(N):
    parts.append("item" + str(i) + ";")
s = "".join(parts)
print("strings " + str(N) + ": " + str(len(s)) + " " + str(s.count("7;")) + " " + str(s.upper().find("ITEM" + str(N - 1))))
