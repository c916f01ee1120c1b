//! Named points where a fault test makes the process die on purpose (`QUIVER_FAILPOINTS=a,b`):
//! the moments between two durable steps that no signal sent from outside can hit reliably.
//! Unset (always, outside tests) a point costs one check of a value read once.

use std::sync::OnceLock;

/// The points named in `QUIVER_FAILPOINTS`, read once.
fn armed() -> &'static [String] {
    static ARMED: OnceLock<Vec<String>> = OnceLock::new();
    ARMED.get_or_init(|| {
        std::env::var("QUIVER_FAILPOINTS")
            .map(|v| {
                v.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(String::from)
                    .collect()
            })
            .unwrap_or_default()
    })
}

/// Aborts the process (as a crash would: no destructor, no flush) when `name` is armed.
pub fn hit(name: &str) {
    if armed().iter().any(|a| a == name) {
        eprintln!("failpoint {name}: aborting");
        std::process::abort();
    }
}
