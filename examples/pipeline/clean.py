import re

text = polyrun.input()["text"]
words = re.findall(r"[a-z']+", text.lower())
print(f"python: {len(words)} words")
polyrun.output({"words": words})
