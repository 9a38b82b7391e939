let s = "";
for (let i = 0; i < N; i++) s += "item" + i + ";";
const sevens = s.split("7;").length - 1;
console.log("strings " + N + ": " + s.length + " " + sevens + " " + s.toUpperCase().indexOf("ITEM" + (N - 1)));
