//! Support code for the studio-gate fuzz targets.
//!
//! The targets in `fuzz_targets/` only turn bytes into calls and check invariants. This crate
//! contains the code they share with each other and with the seed writer in `examples/`:
//! - the layouts that split fuzzer bytes into typed inputs;
//! - the contract's list of public paths;
//! - an in-memory studio-gate server that reads raw HTTP/1.1 bytes.

#![forbid(unsafe_code)]

mod in_memory_server;
mod login_input;
mod public_paths;
mod session_input;

pub use in_memory_server::{Exchange, InMemoryServer, ServedConnection};
pub use login_input::LoginInput;
pub use public_paths::is_listed_public;
pub use session_input::{SessionInput, FIXED_SESSION_KEY, HEADER_LEN};
