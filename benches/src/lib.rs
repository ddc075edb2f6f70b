//! Shared helpers for the benchmarks: a small timing harness and generated inputs.
