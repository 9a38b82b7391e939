const items = [];
for (let i = 0; i < N; i++) {
  items.push({ id: i, name: "item" + i, tags: ["a", "b", String(i % 7)], score: i * 0.5, ok: i % 2 === 0 });
}
const back = JSON.parse(JSON.stringify(items));
let ids = 0, score = 0, oks = 0, tags = 0;
for (const it of back) {
  ids += it.id; score += it.score; if (it.ok) oks++; tags += it.tags.length;
}
console.log("roundtrip " + N + ": " + back.length + " " + ids + " " + score.toFixed(1) + " " + oks + " " + tags);
