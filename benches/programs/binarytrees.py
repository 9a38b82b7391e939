def make(d):
    return (None, None) if d == 0 else (make(d - 1), make(d - 1))


def check(t):
    return 1 if t[0] is None else 1 + check(t[0]) + check(t[1])


min_depth = 4
max_depth = max(min_depth + 2, N)
print("stretch tree of depth " + str(max_depth + 1) + "\t check: " + str(check(make(max_depth + 1))))
long_lived = make(max_depth)
for d in range(min_depth, max_depth + 1, 2):
    iterations = 2 ** (max_depth - d + min_depth)
    total = 0
    for _ in range(iterations):
        total += check(make(d))
    print(str(iterations) + "\t trees of depth " + str(d) + "\t check: " + str(total))
print("long lived tree of depth " + str(max_depth) + "\t check: " + str(check(long_lived)))
