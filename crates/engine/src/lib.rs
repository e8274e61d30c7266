//! The executor: walks a plan's DAG on tokio, calling providers through the `Provider` trait and
//! recording every step through `StateStore`. Filled in by the executor issue.
