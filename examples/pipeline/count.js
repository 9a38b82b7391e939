const { words } = polyrun.input();
const counts = {};
for (const w of words) counts[w] = (counts[w] ?? 0) + 1;
console.log(`javascript: ${Object.keys(counts).length} distinct words`);
polyrun.output({ counts, total: words.length });
