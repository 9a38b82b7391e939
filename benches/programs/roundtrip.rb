require "json"
items = Array.new(N) { |i| { "id" => i, "name" => "item#{i}", "tags" => ["a", "b", (i % 7).to_s], "score" => i * 0.5, "ok" => i.even? } }
back = JSON.parse(JSON.generate(items))
ids = 0
score = 0.0
oks = 0
tags = 0
back.each do |it|
  ids += it["id"]
  score += it["score"]
  oks += 1 if it["ok"]
  tags += it["tags"].length
end
puts "roundtrip #{N}: #{back.length} #{ids} #{format('%.1f', score)} #{oks} #{tags}"
