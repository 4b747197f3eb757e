//! The one integration-test binary: each module covers one area.

mod allocations;
mod bad_input;
mod properties;
mod specs;
mod stream;
mod validate_messages;
