//! `polyrun-bench qjs FILE`: runs a JavaScript file on native QuickJS (rquickjs), with
//! `console.log` — the interpreter-class reference for Boa.

use rquickjs::prelude::{Coerced, Rest};
use rquickjs::{CatchResultExt, Context, Function, Object, Runtime};
use std::io::Write;

/// Runs `path`; the process exit code.
pub fn main(path: &std::path::Path) -> i32 {
    let src = match std::fs::read_to_string(path) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("qjs: {}: {e}", path.display());
            return 2;
        }
    };
    let rt = Runtime::new().expect("QuickJS runtime");
    rt.set_max_stack_size(256 * 1024 * 1024);
    let ctx = Context::full(&rt).expect("QuickJS context");
    ctx.with(|ctx| {
        let console = Object::new(ctx.clone()).expect("object");
        let log = Function::new(ctx.clone(), |args: Rest<Coerced<String>>| {
            let line: Vec<String> = args.0.into_iter().map(|a| a.0).collect();
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{}", line.join(" "));
        })
        .expect("console.log");
        console.set("log", log).expect("set log");
        ctx.globals().set("console", console).expect("set console");
        match ctx.eval::<(), _>(src).catch(&ctx) {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("qjs: {e}");
                1
            }
        }
    })
}
