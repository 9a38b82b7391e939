def make(d)
  d.zero? ? [nil, nil] : [make(d - 1), make(d - 1)]
end

def check(t)
  t[0].nil? ? 1 : 1 + check(t[0]) + check(t[1])
end

min_depth = 4
max_depth = [min_depth + 2, N].max
puts "stretch tree of depth #{max_depth + 1}\t check: #{check(make(max_depth + 1))}"
long_lived = make(max_depth)
min_depth.step(max_depth, 2) do |d|
  iterations = 2**(max_depth - d + min_depth)
  sum = 0
  iterations.times { sum += check(make(d)) }
  puts "#{iterations}\t trees of depth #{d}\t check: #{sum}"
end
puts "long lived tree of depth #{max_depth}\t check: #{check(long_lived)}"
