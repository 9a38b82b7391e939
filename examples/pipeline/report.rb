top = polyrun.input["top"]
lines = top.each_with_index.map { |t, i| "#{i + 1}. #{t["word"]} x#{t["count"]}" }
puts "ruby: #{lines.size} lines"
polyrun.output(lines)
