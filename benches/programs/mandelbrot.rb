inside = 0
N.times do |y|
  ci = (2.5 * y) / N - 1.25
  N.times do |x|
    cr = (2.5 * x) / N - 2.0
    zr = 0.0
    zi = 0.0
    i = 0
    while i < 50 && zr * zr + zi * zi <= 4.0
      t = zr * zr - zi * zi + cr
      zi = 2.0 * zr * zi + ci
      zr = t
      i += 1
    end
    inside += 1 if i == 50
  end
end
puts "mandelbrot #{N}: #{inside} inside"
