//! Masks secrets in run output.
