//! The Northwind demo data, built into the crate so that every host can load it through the
//! same import path as a user's file.
//!
//! The files live in `demo/northwind/` at the repository root, where `generate.py` makes them
//! from the Northwind sample database (Microsoft Public License, see the `LICENSE` file there).

// FIXME: the files are included from outside the crate directory, so `cargo package` for
// crm-io would fail; publishing the crate needs them copied into it (or a build step).

/// The 91 Northwind customers as CSV (UTF-8 with a byte order mark, English headers), one
/// contact each. Read it with [`crate::read_table`] and [`crate::import_customers`].
pub const DEMO_CUSTOMERS_CSV: &str = include_str!("../../demo/northwind/customers.csv");

/// The 29 Northwind suppliers as leads, CSV like [`DEMO_CUSTOMERS_CSV`]. Read it with
/// [`crate::read_table`] and [`crate::import_leads`].
pub const DEMO_LEADS_CSV: &str = include_str!("../../demo/northwind/leads.csv");
