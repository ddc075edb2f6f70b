//! Shared helpers for the benchmarks: a small timing harness that reports throughput.
//!
//! The benchmarks are plain `harness = false` binaries (`cargo bench -p ftp-benches`), so the
//! dependency tree stays small. Each measurement runs its closure repeatedly for a fixed time
//! budget after one warm-up call and reports units (bytes, lines) per second.

use std::time::{Duration, Instant};

/// One benchmark's result.
#[derive(Clone, Debug)]
pub struct Measurement {
    /// What was measured.
    pub name: String,
    /// Units processed in the timed runs (bytes, lines, ...).
    pub units: u64,
    /// The unit's name, for the report.
    pub unit: &'static str,
    /// Timed calls of the closure.
    pub iterations: u64,
    /// Wall time of the timed calls.
    pub elapsed: Duration,
}

impl Measurement {
    /// Units per second.
    pub fn per_second(&self) -> f64 {
        self.units as f64 / self.elapsed.as_secs_f64()
    }

    /// This measurement's throughput divided by `other`'s.
    pub fn ratio_to(&self, other: &Self) -> f64 {
        self.per_second() / other.per_second()
    }
}

/// The time budget per measurement: `FTP_BENCH_SECONDS` (a decimal number) or two seconds.
pub fn budget() -> Duration {
    std::env::var("FTP_BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .map(Duration::from_secs_f64)
        .unwrap_or(Duration::from_secs(2))
}

/// Calls `run` once to warm up, then repeatedly for [`budget`]; `run` returns how many units it
/// processed. Prints and returns the throughput.
pub fn measure(name: &str, unit: &'static str, mut run: impl FnMut() -> u64) -> Measurement {
    std::hint::black_box(run());
    let budget = budget();
    let start = Instant::now();
    let (mut units, mut iterations) = (0u64, 0u64);
    while start.elapsed() < budget {
        units += std::hint::black_box(run());
        iterations += 1;
    }
    let m = Measurement {
        name: name.to_owned(),
        units,
        unit,
        iterations,
        elapsed: start.elapsed(),
    };
    println!(
        "{:<48} {:>14} {unit}/s  ({iterations} runs)",
        m.name,
        human(m.per_second())
    );
    m
}

/// Prints how many times faster `ours` is than `theirs`.
pub fn report_ratio(ours: &Measurement, theirs: &Measurement) {
    println!(
        "{:<48} {:>13.2}x  ({} / {})",
        "  ratio",
        ours.ratio_to(theirs),
        ours.name,
        theirs.name
    );
}

/// Formats a rate with an SI prefix, e.g. `1.23 G`.
pub fn human(rate: f64) -> String {
    let (value, prefix) = match rate {
        r if r >= 1e9 => (r / 1e9, "G"),
        r if r >= 1e6 => (r / 1e6, "M"),
        r if r >= 1e3 => (r / 1e3, "k"),
        r => (r, ""),
    };
    format!("{value:.2} {prefix}")
}
