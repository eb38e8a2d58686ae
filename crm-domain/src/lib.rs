//! Entities, value types and rules of the CRM, and the storage ports they are kept through.
//!
//! This crate does no I/O and needs no async runtime: it describes what a customer, a lead
//! or a setting is, which changes are allowed, and what a store must offer (the [`store`]
//! port). Adapters live in `crm-storage`; the services that tie both together live in `crm`.

#![forbid(unsafe_code)]
#![deny(clippy::float_arithmetic)]

pub mod audit;
pub mod entity;
pub mod error;
pub mod hierarchy;
pub mod ids;
pub mod model;
pub mod query;
pub mod store;
pub mod text;
pub mod value;

pub use entity::{Entity, EntityDesc, FieldDesc, FieldName, FieldOrder, FieldType, Record};
pub use error::{DomainError, StoreError, StoreErrorKind};
pub use ids::{Principal, RecordId, Role, TenantId};
pub use query::{Filter, Query, Sort};
pub use store::{Batch, Op, Page, Store};
pub use value::Value;
