//! The chaos soak (`slipway_testkit::soak`): two replicas and two workers on
//! PostgreSQL under a mixed workload for BENCH_SOAK_MINUTES (default 20) at
//! BENCH_SOAK_RATE requests per second (default 3.5), with processes killed,
//! PostgreSQL restarted twice and object storage out once; then every
//! promise is checked. BENCH_SOAK_SEED (default 1) seeds the choices.
//!
//! `cargo bench -p slipway-cli --bench soak`. Prints the report; fails if a
//! check does.

use std::path::Path;
use std::time::Duration;

use slipway_testkit::bench::setting;
use slipway_testkit::soak::{Soak, run};

fn main() {
    let report = run(&Soak {
        bin: Path::new(env!("CARGO_BIN_EXE_slipway")).to_owned(),
        blueprints: Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/blueprints"),
        duration: Duration::from_secs(60 * setting("BENCH_SOAK_MINUTES", 20) as u64),
        rate: std::env::var("BENCH_SOAK_RATE")
            .ok()
            .and_then(|r| r.parse().ok())
            .unwrap_or(3.5),
        seed: setting("BENCH_SOAK_SEED", 1) as u64,
    });
    println!("{report}");
    assert!(report.violations.is_empty(), "the soak broke a promise");
}
