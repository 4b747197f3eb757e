//! Operators (in progress).
