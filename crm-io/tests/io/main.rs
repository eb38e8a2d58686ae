//! Integration tests of crm-io: files built in the tests (XLSX with rust_xlsxwriter, CSV as
//! text) go through the public API the facade uses. One test binary keeps link time down.

#![expect(clippy::unwrap_used, reason = "fixture helpers outside #[test] fail loudly on purpose")]

mod demo;
mod export;
mod hostile;
mod import;
mod support;
