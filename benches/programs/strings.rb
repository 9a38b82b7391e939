s = +""
N.times { |i| s << "item" << i.to_s << ";" }
puts "strings #{N}: #{s.length} #{s.scan('7;').length} #{s.upcase.index("ITEM#{N - 1}")}"
