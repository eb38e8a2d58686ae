//! Aggregations and charts of the CRM: the sales funnel, group-by counts, sales, cost and
//! finance figures, rendered as tables and bar and pie charts.
//!
//! Nothing is here yet; reports land with the reporting work, computed over the query model
//! of `crm-domain` so that permission scopes apply to them as to lists.

#![forbid(unsafe_code)]
