//! The feature schema: plan snapshot to model row, partner to profile vector. Built by the learning issue.
