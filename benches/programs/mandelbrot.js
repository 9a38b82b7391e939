let inside = 0;
for (let y = 0; y < N; y++) {
  const ci = (2.5 * y) / N - 1.25;
  for (let x = 0; x < N; x++) {
    const cr = (2.5 * x) / N - 2.0;
    let zr = 0.0, zi = 0.0, i = 0;
    while (i < 50 && zr * zr + zi * zi <= 4.0) {
      const t = zr * zr - zi * zi + cr;
      zi = 2.0 * zr * zi + ci;
      zr = t;
      i++;
    }
    if (i === 50) inside++;
  }
}
console.log("mandelbrot " + N + ": " + inside + " inside");
