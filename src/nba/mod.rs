//! Next best actions: candidates, eligibility, effect estimates, arbitration, explanations. Built by the next-best-actions issue.
//!
//! - [`peers`]: similar partners (vector search over profile vectors) and peer benchmarks.

pub mod peers;
