# polyrun sample: Python 3 (RustPython).
name = "polyrun"
print(f"Hello from {name}!")
for i, lang in enumerate(["JavaScript", "Lua", "Python", "Ruby"], start=1):
    print(f"{i}. {lang}")
