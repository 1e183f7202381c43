//! The synthetic world.
