inside = 0
for y in range(N):
    ci = (2.5 * y) / N - 1.25
    for x in range(N):
        cr = (2.5 * x) / N - 2.0
        zr = zi = 0.0
        i = 0
        while i < 50 and zr * zr + zi * zi <= 4.0:
            t = zr * zr - zi * zi + cr
            zi = 2.0 * zr * zi + ci
            zr = t
            i += 1
        if i == 50:
            inside += 1
print("mandelbrot " + str(N) + ": " + str(inside) + " inside")
