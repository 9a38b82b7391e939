d = {}
N.times { |i| d["k#{i}"] = i }
hits = 0
sum = 0
(2 * N).times do |i|
  v = d["k#{i}"]
  unless v.nil?
    hits += 1
    sum += v
  end
end
0.step(N - 1, 3) { |i| d.delete("k#{i}") }
puts "dict #{N}: #{hits} #{sum} #{d.size}"
