function make(d) {
  return d === 0 ? [null, null] : [make(d - 1), make(d - 1)];
}
function check(t) {
  return t[0] === null ? 1 : 1 + check(t[0]) + check(t[1]);
}
const minDepth = 4;
const maxDepth = Math.max(minDepth + 2, N);
console.log("stretch tree of depth " + (maxDepth + 1) + "\t check: " + check(make(maxDepth + 1)));
const longLived = make(maxDepth);
for (let d = minDepth; d <= maxDepth; d += 2) {
  const iterations = 2 ** (maxDepth - d + minDepth);
  let sum = 0;
  for (let i = 0; i < iterations; i++) sum += check(make(d));
  console.log(iterations + "\t trees of depth " + d + "\t check: " + sum);
}
console.log("long lived tree of depth " + maxDepth + "\t check: " + check(longLived));
