//! CPython lifecycle for an embedding host such as an Apache module.
//!
//! - [`settings`]: what the host's configuration says about the interpreter.
//! - [`lifecycle`]: initialising Python from those settings, once per process.
//! - [`threads`]: attaching foreign (host-created) threads to Python with one
//!   long-lived thread state per thread, and releasing the GIL around
//!   blocking work.
//! - [`raised`]: error handling that never drops a `PyErr` outside Python's
//!   own error indicator (pyo3's deferred reference pool must not be relied
//!   on in an embedded, multi-interpreter process).
//! - [`objects`]: creating Python types from specs at run time, per
//!   interpreter, instead of pyo3's process-wide `#[pyclass]` types.

pub mod lifecycle;
pub mod modules;
pub mod objects;
pub mod raised;
pub mod settings;
pub mod stacks;
pub mod threads;

pub use pyo3;
pub use raised::{PyResultExt, Raised, RaisedResult};
pub use settings::{HashSeed, PythonSettings};
