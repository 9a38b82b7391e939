//! The program set (`benches/programs/<name>.<ext>`) and who runs it.

use std::path::{Path, PathBuf};

/// The five languages: polyrun's id and the programs' file extension.
pub const LANGUAGES: [(&str, &str); 5] = [
    ("javascript", "js"),
    ("lua", "lua"),
    ("python", "py"),
    ("ruby", "rb"),
    ("php", "php"),
];

/// One benchmark program: its name, what it exercises, and its size parameter `N`.
pub struct Program {
    /// File stem in `benches/programs/`.
    pub name: &'static str,
    /// One line for the report.
    pub about: &'static str,
    /// `N` for a full run.
    pub full: u32,
    /// `N` for `--quick`.
    pub quick: u32,
}

/// The programs, in report order. `hello` measures start-up.
pub const PROGRAMS: [Program; 8] = [
    Program {
        name: "hello",
        about: "print one line (start-up)",
        full: 0,
        quick: 0,
    },
    Program {
        name: "fib",
        about: "recursive fib(N): calls",
        full: 27,
        quick: 15,
    },
    Program {
        name: "mandelbrot",
        about: "N×N Mandelbrot, 50 iterations: float loops",
        full: 250,
        quick: 20,
    },
    Program {
        name: "nbody",
        about: "five-body simulation, N steps: float + field access",
        full: 50_000,
        quick: 100,
    },
    Program {
        name: "strings",
        about: "build a string of N pieces, search it, upper-case it",
        full: 200_000,
        quick: 100,
    },
    Program {
        name: "dict",
        about: "N string keys: insert, 2N lookups, N/3 deletes",
        full: 200_000,
        quick: 100,
    },
    Program {
        name: "roundtrip",
        about: "N records to JSON and back (Lua: a JSON codec in Lua)",
        full: 20_000,
        quick: 50,
    },
    Program {
        name: "binarytrees",
        about: "allocate and walk binary trees of depth up to N: GC",
        full: 14,
        quick: 6,
    },
];

/// Who runs a program: polyrun or a reference interpreter.
#[derive(Clone, Debug)]
pub struct Runner {
    /// Short name in the report: `polyrun` (the default backend), `polyrun-boa`, `node`, `quickjs`,
    /// `cpython`, `lua`, `ruby`, `php`.
    pub name: String,
    /// The language.
    pub language: &'static str,
    /// Command and arguments before the program file.
    pub command: Vec<String>,
}

/// The program file for `lang` with `N = n` defined at its top, written under `dir`.
pub fn prepare(root: &Path, dir: &Path, p: &Program, lang: &str, ext: &str, n: u32) -> PathBuf {
    let src = std::fs::read_to_string(root.join(format!("{}.{ext}", p.name)))
        .unwrap_or_else(|e| panic!("reading {}.{ext}: {e}", p.name));
    let text = with_n(&src, lang, n);
    let path = dir.join(format!("{}.{ext}", p.name));
    std::fs::write(&path, text).expect("write the prepared program");
    path
}

fn define_n(lang: &str, n: u32) -> String {
    match lang {
        "javascript" => format!("const N = {n};"),
        "lua" => format!("local N = {n}"),
        "python" | "ruby" => format!("N = {n}"),
        _ => format!("$N = {n};"),
    }
}

/// `src` with `N = n` defined first (after PHP's opening tag).
pub fn with_n(src: &str, lang: &str, n: u32) -> String {
    let def = define_n(lang, n);
    if lang == "php" {
        let body = src.strip_prefix("<?php\n").unwrap_or(src);
        format!("<?php\n{def}\n{body}")
    } else {
        format!("{def}\n{src}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn n_is_defined_first_and_after_phps_tag() {
        assert_eq!(with_n("print(N)\n", "lua", 7), "local N = 7\nprint(N)\n");
        assert_eq!(
            with_n("<?php\necho $N;\n", "php", 3),
            "<?php\n$N = 3;\necho $N;\n"
        );
        assert_eq!(
            with_n("console.log(N)", "javascript", 1),
            "const N = 1;\nconsole.log(N)"
        );
    }

    #[test]
    fn every_program_exists_in_every_language() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("programs");
        for p in &PROGRAMS {
            for (_, ext) in LANGUAGES {
                assert!(
                    root.join(format!("{}.{ext}", p.name)).is_file(),
                    "{}.{ext}",
                    p.name
                );
            }
        }
    }
}
