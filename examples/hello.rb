# polyrun sample: Ruby 3.4 (ruby.wasm).
name = "polyrun"
puts "Hello from #{name}!"
%w[JavaScript Lua Ruby].each_with_index { |lang, i| puts "#{i + 1}. #{lang}" }
