//! The C ABI over the CRM engine: opaque handles, `crm_<noun>_<verb>` functions, numbered
//! result codes and a panic boundary on every export.
//!
//! Nothing is exported yet; the C ABI lands with its own work item, with a committed
//! cbindgen header and C and Python clients.
