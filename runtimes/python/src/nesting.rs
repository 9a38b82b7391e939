//! How deep source and JSON nest, measured before RustPython's parser, compiler and JSON
//! decoder recurse on the native stack (they check no depth of their own: a million nested
//! brackets overflow the stack and abort the process). Where CPython has a limit this uses it,
//! with CPython's error; elsewhere a bound well inside the run thread's stack.

/// Brackets open at once, at most (CPython's tokenizer: `MAXLEVEL`).
pub const MAX_BRACKETS: usize = 200;
/// Indentation levels, at most (CPython's tokenizer: `MAXINDENT`).
pub const MAX_INDENT: usize = 100;
/// The estimated depth of one statement's syntax tree, at most; also the deepest JSON the
/// decoder is given whatever the recursion limit. A tenth of what the run thread's stack holds
/// in a debug build (measured: 60,000 nested unary operators compile there).
pub const MAX_NESTING: usize = 20_000;

/// Which exception a too-deep source raises.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TooDeepKind {
    /// `SyntaxError: too many nested parentheses`.
    Brackets,
    /// `IndentationError: too many levels of indentation`.
    Indentation,
    /// `RecursionError: maximum recursion depth exceeded during compilation`.
    Expression,
}

/// A source that nests past a limit, and the (1-based) line where it did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TooDeep {
    /// Which limit.
    pub kind: TooDeepKind,
    /// Where.
    pub line: usize,
}

impl TooDeepKind {
    /// CPython's message for it.
    pub fn message(self) -> &'static str {
        match self {
            TooDeepKind::Brackets => "too many nested parentheses",
            TooDeepKind::Indentation => "too many levels of indentation",
            TooDeepKind::Expression => "maximum recursion depth exceeded during compilation",
        }
    }
}

const KEYWORDS: &[&str] = &[
    "not", "lambda", "if", "else", "and", "or", "await", "yield", "in", "is", "for", "async",
];

/// Checks `src` against [`MAX_BRACKETS`], [`MAX_INDENT`] and [`MAX_NESTING`] with a light
/// tokenizer (strings and comments skipped, f-strings counted as code: an over-estimate). The
/// depth of an expression is estimated from its operators, attribute dots, nesting keywords and
/// brackets; siblings (after a `,` or `;`) do not add up.
pub fn check_source(src: &str) -> Result<(), TooDeep> {
    let b = src.as_bytes();
    let mut line = 1usize;
    // One counter per open bracket (and the statement's own): operators seen at that level
    // since its last comma.
    let mut levels: Vec<usize> = vec![0];
    let mut total = 0usize; // sum of `levels` + brackets open
    let mut indents: Vec<usize> = vec![0];
    let mut at_line_start = true;
    let mut i = 0;
    let too_deep = |kind, line| Err(TooDeep { kind, line });
    while i < b.len() {
        if at_line_start && levels.len() == 1 {
            at_line_start = false;
            let mut col = 0;
            let mut j = i;
            while j < b.len() && matches!(b[j], b' ' | b'\t' | b'\x0c') {
                col = if b[j] == b'\t' {
                    (col / 8 + 1) * 8
                } else {
                    col + 1
                };
                j += 1;
            }
            // Blank and comment-only lines do not indent.
            if j < b.len() && !matches!(b[j], b'\n' | b'\r' | b'#') {
                if col > *indents.last().unwrap_or(&0) {
                    indents.push(col);
                    if indents.len() > MAX_INDENT + 1 {
                        return too_deep(TooDeepKind::Indentation, line);
                    }
                } else {
                    while indents.len() > 1 && col < *indents.last().unwrap_or(&0) {
                        indents.pop();
                    }
                }
            }
            i = j;
            continue;
        }
        let c = b[i];
        match c {
            b'\n' => {
                line += 1;
                if levels.len() == 1 {
                    levels[0] = 0;
                    total = 0;
                    at_line_start = true;
                }
                i += 1;
            }
            b'#' => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'\\' => {
                // A line continuation (or a stray backslash): the logical line goes on.
                if b.get(i + 1) == Some(&b'\n') {
                    line += 1;
                    i += 2;
                } else {
                    i += 1;
                }
            }
            b'\'' | b'"' => {
                i = skip_string(b, i, &mut line);
            }
            b'(' | b'[' | b'{' => {
                *levels.last_mut().unwrap_or(&mut 0) += 1;
                levels.push(0);
                total += 2;
                if levels.len() - 1 > MAX_BRACKETS {
                    return too_deep(TooDeepKind::Brackets, line);
                }
                i += 1;
            }
            b')' | b']' | b'}' => {
                if levels.len() > 1 {
                    let inner = levels.pop().unwrap_or(0);
                    let opener = 1;
                    total = total.saturating_sub(inner + opener);
                }
                i += 1;
            }
            b',' | b';' => {
                if let Some(top) = levels.last_mut() {
                    total -= *top;
                    *top = 0;
                }
                i += 1;
            }
            b'+' | b'-' | b'*' | b'/' | b'%' | b'@' | b'&' | b'|' | b'^' | b'~' | b'<' | b'>'
            | b'=' | b'!' => {
                *levels.last_mut().unwrap_or(&mut 0) += 1;
                total += 1;
                i += 1;
            }
            b'.' => {
                let digit = |j: Option<&u8>| j.is_some_and(u8::is_ascii_digit);
                if !(digit(b.get(i + 1)) || (i > 0 && digit(b.get(i - 1)))) {
                    *levels.last_mut().unwrap_or(&mut 0) += 1;
                    total += 1;
                }
                i += 1;
            }
            c if c == b'_' || c.is_ascii_alphabetic() || c >= 0x80 => {
                let start = i;
                while i < b.len() && (b[i] == b'_' || b[i].is_ascii_alphanumeric() || b[i] >= 0x80)
                {
                    i += 1;
                }
                let word = &src[start..i];
                // A string prefix (`f'…'`, `rb"…"`): an f-string is counted as code.
                if i < b.len()
                    && matches!(b[i], b'\'' | b'"')
                    && word.len() <= 2
                    && word.chars().all(|c| "rRbBuUfFtT".contains(c))
                {
                    if !word.chars().any(|c| matches!(c, 'f' | 'F' | 't' | 'T')) {
                        i = skip_string(b, i, &mut line);
                    }
                    // An f-string's quotes and text are left for the loop: its replacement
                    // fields' brackets and operators count.
                    else {
                        i += 1;
                    }
                    continue;
                }
                if KEYWORDS.contains(&word) {
                    *levels.last_mut().unwrap_or(&mut 0) += 1;
                    total += 1;
                }
            }
            _ => i += 1,
        }
        if total > MAX_NESTING {
            return too_deep(TooDeepKind::Expression, line);
        }
    }
    Ok(())
}

/// The index after the string literal whose opening quote is at `start` (a line's end closes
/// an unterminated single-quoted one); counts the newlines it holds into `line`.
fn skip_string(b: &[u8], start: usize, line: &mut usize) -> usize {
    let q = b[start];
    let triple = b.get(start + 1) == Some(&q) && b.get(start + 2) == Some(&q);
    let mut i = start + if triple { 3 } else { 1 };
    while i < b.len() {
        match b[i] {
            b'\\' => {
                if b.get(i + 1) == Some(&b'\n') {
                    *line += 1;
                }
                i += 2;
            }
            b'\n' if !triple => return i,
            b'\n' => {
                *line += 1;
                i += 1;
            }
            c if c == q => {
                if !triple {
                    return i + 1;
                }
                if b.get(i + 1) == Some(&q) && b.get(i + 2) == Some(&q) {
                    return i + 3;
                }
                i += 1;
            }
            _ => i += 1,
        }
    }
    b.len()
}

/// Whether the JSON value starting at character `char_index` of `text` nests deeper than
/// `limit` arrays and objects (strings skipped; the scan stops where the value ends).
pub fn json_nests_deeper(text: &str, char_index: usize, limit: usize) -> bool {
    let Some((start, _)) = text.char_indices().nth(char_index) else {
        return false;
    };
    let b = &text.as_bytes()[start..];
    let mut depth = 0usize;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'"' => {
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
            }
            b'[' | b'{' => {
                depth += 1;
                if depth > limit {
                    return true;
                }
            }
            b']' | b'}' => {
                if depth <= 1 {
                    return false;
                }
                depth -= 1;
            }
            _ if depth == 0 => return false,
            _ => {}
        }
        i += 1;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(src: &str) -> Option<TooDeepKind> {
        check_source(src).err().map(|e| e.kind)
    }

    #[test]
    fn ordinary_sources_pass() {
        assert_eq!(
            kind("x = [-1, -2, -3] * 1000\nprint(x.count(-1) + 1.5)"),
            None
        );
        let wide = format!("x = [{}]", "-1.5, ".repeat(100_000));
        assert_eq!(kind(&wide), None, "siblings do not add up");
        let parens_in_strings = format!(
            "s = '{}' # {}\nt = \"\"\"{}\"\"\"",
            "(".repeat(500),
            "[".repeat(500),
            "{\n".repeat(500)
        );
        assert_eq!(kind(&parens_in_strings), None);
        let deep_ok = format!("x = {}1{}", "(".repeat(200), ")".repeat(200));
        assert_eq!(kind(&deep_ok), None);
        let blocks: String = (0..100)
            .map(|n| format!("{}if 1:\n", " ".repeat(n)))
            .collect();
        assert_eq!(kind(&format!("{blocks}{}pass\n", " ".repeat(100))), None);
    }

    #[test]
    fn deep_sources_are_caught_with_cpythons_errors() {
        let parens = format!("x = 1\ny = {}1{}", "(".repeat(201), ")".repeat(201));
        assert_eq!(
            check_source(&parens),
            Err(TooDeep {
                kind: TooDeepKind::Brackets,
                line: 2
            })
        );
        assert_eq!(
            kind(&format!("f'{{{}}}'", "[".repeat(300))),
            Some(TooDeepKind::Brackets)
        );
        let blocks: String = (0..101)
            .map(|n| format!("{}if 1:\n", " ".repeat(n)))
            .collect();
        assert_eq!(
            kind(&format!("{blocks}{}pass\n", " ".repeat(101))),
            Some(TooDeepKind::Indentation)
        );
        for chain in [
            "-".repeat(30_000) + "1",
            "1".to_string() + &"+1".repeat(30_000),
            "a".to_string() + &".a".repeat(30_000),
            "not ".repeat(30_000) + "1",
        ] {
            assert_eq!(
                kind(&chain),
                Some(TooDeepKind::Expression),
                "{}",
                &chain[..20]
            );
        }
        let continued = "x = 1 \\\n".to_string() + &"+ 1 \\\n".repeat(30_000);
        assert_eq!(kind(&continued), Some(TooDeepKind::Expression));
    }

    #[test]
    fn json_depth_is_measured_from_the_value_on() {
        let deep = format!("{}{}", "[".repeat(1001), "]".repeat(1001));
        assert!(json_nests_deeper(&deep, 0, 1000));
        assert!(!json_nests_deeper(&deep, 0, 1001));
        assert!(!json_nests_deeper(&deep, 1, 1000));
        let wide = format!("[{}]", "[{\"a\": \"[[[[\"}], ".repeat(10_000) + "1");
        assert!(!json_nests_deeper(&wide, 0, 3));
        assert!(json_nests_deeper("é [[[1]]]", 2, 2));
        assert!(
            !json_nests_deeper("\"x\" [[[", 0, 1),
            "a string value ends at once"
        );
    }
}
