//! Programs generated from bytes: a small expression grammar per language, so that most inputs
//! parse and reach the interpreter and its library instead of stopping at a syntax error.

/// One language's grammar. Templates hold `$` where a generated expression goes.
#[derive(Debug)]
pub struct Grammar {
    /// Lines every program starts with (the variables the atoms name).
    pub prelude: &'static str,
    /// Statement templates (`print($)`); a program is a few of them, one per line.
    pub statements: &'static [&'static str],
    /// Expressions without holes.
    pub atoms: &'static [&'static str],
    /// Expression templates with holes: operators, calls, constructors.
    pub compound: &'static [&'static str],
    /// Generated or raw programs holding one of these are skipped (what a backend cannot
    /// stop in process).
    pub skip: &'static [&'static str],
}

/// How deep expressions nest at most.
const MAX_DEPTH: usize = 4;
/// The most statements in one program.
const MAX_STATEMENTS: usize = 12;

struct Bytes<'a>(std::slice::Iter<'a, u8>);

impl Bytes<'_> {
    fn pick<'t>(&mut self, options: &'t [&'t str]) -> &'t str {
        let b = self.0.next().copied().unwrap_or(0) as usize;
        options[b % options.len()]
    }
}

fn expression(g: &Grammar, bytes: &mut Bytes<'_>, depth: usize) -> String {
    let choice = bytes.0.next().copied().unwrap_or(0);
    if depth >= MAX_DEPTH || choice % 3 == 0 || bytes.0.len() == 0 {
        return bytes.pick(g.atoms).to_string();
    }
    fill(g, bytes.pick(g.compound), bytes, depth + 1)
}

fn fill(g: &Grammar, template: &str, bytes: &mut Bytes<'_>, depth: usize) -> String {
    let mut out = String::new();
    for (i, part) in template.split('$').enumerate() {
        if i > 0 {
            out.push_str(&expression(g, bytes, depth));
        }
        out.push_str(part);
    }
    out
}

/// A program of `g` made from `bytes` (the same bytes always make the same program).
pub fn generate(g: &Grammar, bytes: &[u8]) -> String {
    let mut bytes = Bytes(bytes.iter());
    let mut program = String::from(g.prelude);
    for _ in 0..MAX_STATEMENTS {
        if bytes.0.len() == 0 {
            break;
        }
        let template = bytes.pick(g.statements);
        program.push_str(&fill(g, template, &mut bytes, 0));
        program.push('\n');
    }
    program
}

/// Lua 5.4.
pub const LUA: Grammar = Grammar {
    prelude: "local x, s, t = 1, 'abc', {1, 2, 3}\n",
    statements: &[
        "print(pcall(function() return $ end))",
        "x = $",
        "s = $",
        "t = $",
        "pcall(function() t[$] = $ end)",
        "pcall(function() for i = 1, 3 do x = $ end end)",
        "if $ then print($) else print($) end",
        "print(select('#', pcall(error, $)))",
        "pcall(function() local c <close> = setmetatable({}, {__close = function() x = $ end}) end)",
        "print(pcall(string.format, '%s %q', $, $))",
    ],
    atoms: &[
        "1",
        "0",
        "-1",
        "2.5",
        "3",
        "'a'",
        "'%d'",
        "'(.)'",
        "'%s*'",
        "nil",
        "true",
        "false",
        "{}",
        "{1, 2, 3}",
        "{a = 1}",
        "x",
        "s",
        "t",
        "math.huge",
        "0/0",
        "math.maxinteger",
        "'\\0'",
        "print",
        "string",
        "...",
        "function() end",
    ],
    compound: &[
        "-$",
        "not $",
        "#$",
        "~$",
        "($)",
        "{$, $}",
        "{[$] = $}",
        "$ + $",
        "$ .. $",
        "$ == $",
        "$ < $",
        "$ // $",
        "$ % $",
        "$ ^ 2",
        "$ & $",
        "$ << $",
        "$ and $",
        "$ or $",
        "$[$]",
        "tostring($)",
        "tonumber($)",
        "math.floor($)",
        "math.tointeger($)",
        "string.rep($, 3)",
        "string.format('%s %d', $, $)",
        "string.find($, $)",
        "string.gsub($, $, $)",
        "string.sub($, $, $)",
        "string.byte($, 1, -1)",
        "string.char($)",
        "string.upper($)",
        "string.pack('i4', $)",
        "utf8.char($)",
        "utf8.len($)",
        "table.concat($, $)",
        "table.unpack($)",
        "table.insert($, $)",
        "table.sort($)",
        "select('#', $)",
        "pcall($)",
        "setmetatable($, {__index = $})",
        "setmetatable({}, {__tostring = function() return $ end})",
        "getmetatable($)",
        "rawlen($)",
        "rawequal($, $)",
        "next($)",
        "ipairs($)",
        "load($)",
        "coroutine.wrap(function() coroutine.yield($) return $ end)()",
        "(function(...) return ... end)($, $)",
        "type($)",
        "math.max($, $)",
        "string.len($)",
        "os.time()",
        "os.clock()",
    ],
    skip: &[],
};

/// Python 3 (RustPython).
pub const PYTHON: Grammar = Grammar {
    prelude: "import json, re, math\nx, s, l = 1, 'abc', [1, 2, 3]\n",
    statements: &[
        "try:\n    print(repr($))\nexcept Exception as e:\n    print(type(e).__name__)",
        "try:\n    x = $\nexcept Exception as e:\n    print(type(e).__name__)",
        "try:\n    s = $\nexcept Exception as e:\n    print(type(e).__name__)",
        "try:\n    l = $\nexcept Exception as e:\n    print(type(e).__name__)",
        "try:\n    l[$] = $\nexcept Exception as e:\n    print(type(e).__name__)",
        "try:\n    print(f'{$!r:>5} {$}')\nexcept Exception as e:\n    print(type(e).__name__)",
        "try:\n    for i in range(3):\n        x = $\nexcept Exception as e:\n    print(type(e).__name__)",
        "try:\n    raise ValueError($)\nexcept ValueError as e:\n    print(e)",
    ],
    atoms: &[
        "1",
        "0",
        "-1",
        "2.5",
        "3",
        "'a'",
        "'%s'",
        "b'x'",
        "None",
        "True",
        "[]",
        "[1, 2]",
        "{}",
        "{'a': 1}",
        "(1,)",
        "x",
        "s",
        "l",
        "float('nan')",
        "1j",
        "...",
        "range(3)",
        "set()",
        "int",
        "str",
        "len",
        "'\\x00'",
        "'é'",
        "2**31",
        "-2**63",
    ],
    compound: &[
        "-$",
        "not $",
        "~$",
        "[$]",
        "($,)",
        "{$: $}",
        "(lambda: $)",
        "[$ for _ in range(2)]",
        "$ + $",
        "$ * 2",
        "$ % $",
        "$ // $",
        "$ ** 2",
        "$ == $",
        "$ < $",
        "$ in $",
        "$[$]",
        "$ if $ else $",
        "$ and $",
        "$ | $",
        "$[$:$]",
        "len($)",
        "str($)",
        "repr($)",
        "int($)",
        "float($)",
        "list($)",
        "dict($)",
        "tuple($)",
        "sorted($)",
        "format($, $)",
        "'{}'.format($)",
        "'%s' % ($,)",
        "type($)",
        "getattr($, 'real', $)",
        "hash($)",
        "isinstance($, int)",
        "bytes($)",
        "' '.join($)",
        "max($)",
        "sum($)",
        "divmod($, $)",
        "round($, 2)",
        "next(iter($))",
        "str($).split($)",
        "str($).encode()",
        "json.loads($)",
        "json.dumps($)",
        "re.sub($, 'x', $)",
        "re.findall($, $)",
        "eval(repr($))",
        "math.sqrt($)",
        "abs($)",
        "chr($)",
        "ord($)",
        "hex($)",
        "bool($)",
        "set($)",
        "frozenset($)",
        "zip($, $)",
        "list(map(str, $))",
        "$.__class__",
        "$.__dict__",
        "vars($)",
        "dir($)",
        "id($) > 0",
        "complex($)",
        "memoryview(b'ab')[$]",
        "bytearray($)",
        "str($).center(9, $)",
    ],
    skip: &[],
};

/// JavaScript (QuickJS in process: loops are stopped by the deadline like any other backend's).
pub const JS: Grammar = Grammar {
    prelude: "let x = 1, s = 'abc', a = [1, 2, 3];\n",
    statements: &[
        "try { console.log($); } catch (e) { console.log(e.name); }",
        "try { x = $; } catch (e) { console.log(e.name); }",
        "try { s = $; } catch (e) { console.log(e.name); }",
        "try { a.push($); } catch (e) { console.log(e.name); }",
        "try { a[$] = $; } catch (e) { console.log(e.name); }",
        "Promise.resolve().then(() => console.log($)).catch(e => console.log(e.name));",
        "try { console.log(JSON.stringify($), String($)); } catch (e) { console.log(e.name); }",
        "try { throw $; } catch (e) { console.log(typeof e); }",
        "for (let i = 0; i < $; i++) { try { a.push($); } catch (e) { console.log(e.name); } }",
        "try { while ($) { x = $; } } catch (e) { console.log(e.name); }",
        "try { console.log(eval(String($))); } catch (e) { console.log(e.name); }",
    ],
    atoms: &[
        "1",
        "0",
        "-1",
        "2.5",
        "3",
        "'a'",
        "null",
        "undefined",
        "true",
        "[]",
        "[1, 2]",
        "({})",
        "({a: 1})",
        "x",
        "s",
        "a",
        "NaN",
        "Infinity",
        "1n",
        "Symbol('s')",
        "/a+/g",
        "new Map()",
        "(() => 1)",
        "'\\u0000'",
        "-0",
        "2 ** 53",
    ],
    compound: &[
        "-$",
        "!$",
        "typeof $",
        "void $",
        "[$]",
        "({k: $})",
        "(() => $)",
        "$ + $",
        "$ * $",
        "$ % $",
        "$ ** 2",
        "$ == $",
        "$ === $",
        "$ < $",
        "$ in $",
        "$[$]",
        "($ ? $ : $)",
        "$ && $",
        "$ ?? $",
        "$ | $",
        "$ >>> $",
        "$ instanceof Object",
        "String($)",
        "JSON.stringify($)",
        "JSON.parse($)",
        "Number($)",
        "Array.from($)",
        "Object.keys($)",
        "parseInt($, 36)",
        "String($).split($)",
        "String($).repeat(3)",
        "String($).padStart(9, $)",
        "[$, $].sort()",
        "[$].map(v => $)",
        "Object.assign({}, $)",
        "new Proxy({}, {get: () => $})",
        "Reflect.ownKeys(Object($))",
        "Promise.resolve($)",
        "Math.max($, $)",
        "BigInt(7) + $",
        "encodeURIComponent($)",
        "new Date($).getTime()",
        "$?.a?.b",
        "Array($ & 7)",
        "Object.getOwnPropertyNames($)",
        "[...String($)]",
        "new Set([$, $]).size",
        "`${$}`",
        "String.fromCharCode($)",
        "Symbol.for($)",
        "Object.freeze($)",
        "new Error($).message",
        "structuredClone($)",
        "$.toString()",
        "$.valueOf()",
        "Number($).toFixed(2)",
    ],
    skip: &["while", "for (", "for(", "do ", "do{"],
};
