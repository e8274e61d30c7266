//! Prints a generated mixed stack of N resources (default 10,000), the one `plan_scale` benchmarks,
//! for timing the meshctl binary on it: `cargo run --release -p meshctl-plan --example
//! mixed_stack -- 10000 > scale.yaml`; `-- 5000 2500` makes 2,500 of them DNS records
//! (scripts/apply-at-scale.sh).

#[path = "../benches/support/mixed_stack.rs"]
mod mixed_stack;

use std::io::Write;
use std::process::ExitCode;

fn main() -> ExitCode {
    let resources = match std::env::args()
        .nth(1)
        .map(|n| n.replace(['_', ','], "").parse())
    {
        None => 10_000,
        Some(Ok(n)) if n >= mixed_stack::HEADER_RESOURCES => n,
        Some(_) => {
            eprintln!(
                "usage: mixed_stack [RESOURCES]: a whole number of at least {}",
                mixed_stack::HEADER_RESOURCES
            );
            return ExitCode::from(2);
        }
    };
    let records = match std::env::args()
        .nth(2)
        .map(|n| n.replace(['_', ','], "").parse())
    {
        None => 0,
        Some(Ok(n)) => n,
        Some(Err(_)) => {
            eprintln!("usage: mixed_stack [RESOURCES [RECORDS]]: whole numbers");
            return ExitCode::from(2);
        }
    };
    let text = mixed_stack::mixed_stack(resources, records);
    match std::io::stdout().lock().write_all(text.as_bytes()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mixed_stack: writing the stack: {e}");
            ExitCode::from(1)
        }
    }
}
