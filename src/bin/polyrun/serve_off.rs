//! `polyrun serve` in a build without the `server` feature: says so.

use super::exit;

/// Whatever was passed (this build cannot serve).
#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, hide = true)]
    rest: Vec<String>,
}

/// Explains that this build has no server.
pub fn serve(_args: ServeArgs) -> u8 {
    eprintln!("polyrun serve: this polyrun was built without the `server` cargo feature");
    exit::USAGE
}
