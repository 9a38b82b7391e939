const d = new Map();
for (let i = 0; i < N; i++) d.set("k" + i, i);
let hits = 0, sum = 0;
for (let i = 0; i < 2 * N; i++) {
  const v = d.get("k" + i);
  if (v !== undefined) { hits++; sum += v; }
}
for (let i = 0; i < N; i += 3) d.delete("k" + i);
console.log("dict " + N + ": " + hits + " " + sum + " " + d.size);
