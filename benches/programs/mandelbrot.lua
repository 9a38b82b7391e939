local inside = 0
for y = 0, N - 1 do
  local ci = (2.5 * y) / N - 1.25
  for x = 0, N - 1 do
    local cr = (2.5 * x) / N - 2.0
    local zr, zi, i = 0.0, 0.0, 0
    while i < 50 and zr * zr + zi * zi <= 4.0 do
      local t = zr * zr - zi * zi + cr
      zi = 2.0 * zr * zi + ci
      zr = t
      i = i + 1
    end
    if i == 50 then inside = inside + 1 end
  end
end
print("mandelbrot " .. N .. ": " .. inside .. " inside")
