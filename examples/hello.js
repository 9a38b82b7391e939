// polyrun sample: JavaScript on Boa.
const name = "polyrun";
const langs = ["JavaScript", "Lua"];
console.log(`Hello from ${name}!`);
console.log({ languages: langs, count: langs.length });
