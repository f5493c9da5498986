//! The chaos soak's short version (`slipway_testkit::soak`; the 20-minute
//! one is `cargo bench -p slipway-cli --bench soak`): three minutes of a
//! mixed workload on two replicas and two workers on PostgreSQL while
//! replicas and workers are killed, PostgreSQL restarts twice and object
//! storage stops answering once; then nothing lost, stuck, left running,
//! left locked, charged twice or unaudited.

use std::time::Duration;

use slipway_testkit::soak::{Soak, run};

use crate::common::*;

#[test]
fn three_minutes_of_faults_lose_nothing_and_leave_nothing_behind() {
    let report = run(&Soak {
        bin: slipway().to_owned(),
        blueprints: fixture_blueprints(),
        duration: Duration::from_secs(180),
        rate: 1.5,
        seed: 7,
    });
    println!("{report}");
    assert!(
        report.violations.is_empty(),
        "the soak broke a promise:\n{report}"
    );
    assert!(
        report
            .faults
            .iter()
            .filter(|(_, f)| f.contains("SIGKILL"))
            .count()
            >= 2,
        "{report}"
    );
    assert!(report.operation_count() >= 100, "{report}");
}
