//! The approval engine of the CRM: definitions as graphs, instances as replayable event logs,
//! and the tasks people act on.
//!
//! Nothing is here yet; the engine lands with the workflow work. It will stay a pure core
//! over `crm-domain`, with persistence through the storage port.

#![forbid(unsafe_code)]
