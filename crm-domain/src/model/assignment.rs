//! Customer assignment requests (资源分配申请): a salesperson asks to be given a customer from
//! the shared pool or from someone else, and a manager approves through a workflow bound to
//! the `customer_assignment` form.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::sync::LazyLock;

use super::{required, text, ApprovalStatus};
use crate::entity::{Entity, EntityDesc, FieldDesc, FieldType as T};
use crate::error::DomainError;
use crate::ids::RecordId;

/// Where an assignment request stands; it follows the status of its approval.
pub type AssignmentStatus = ApprovalStatus;

/// A salesperson's request to be made the owner of a customer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AssignmentRequest {
    /// Record id.
    pub id: RecordId,
    /// Stored version.
    #[serde(default)]
    pub version: u64,
    /// The customer asked for.
    pub customer: RecordId,
    /// The user who asks and would become the owner.
    pub requester: RecordId,
    /// Why they ask.
    #[serde(default)]
    pub reason: String,
    /// Where the request stands.
    #[serde(default)]
    pub status: AssignmentStatus,
    /// Created at (UTC).
    pub created_at: DateTime<Utc>,
}

static ASSIGNMENT_REQUEST: LazyLock<EntityDesc> = LazyLock::new(|| {
    EntityDesc::new(
        "assignment_request",
        vec![
            FieldDesc::new("customer", T::Ref, "Customer", "客户").indexed(),
            FieldDesc::new("requester", T::Ref, "Requester", "申请人").indexed(),
            FieldDesc::new("reason", T::Text, "Reason", "申请理由"),
            FieldDesc::new("status", T::Text, "Status", "状态").indexed(),
            FieldDesc::new("created_at", T::Timestamp, "Created", "申请时间").indexed().sortable(),
        ],
    )
    .expect("assignment request description is valid")
});

impl Entity for AssignmentRequest {
    fn desc() -> &'static EntityDesc {
        &ASSIGNMENT_REQUEST
    }
    fn id(&self) -> RecordId {
        self.id
    }
}

impl AssignmentRequest {
    /// Checks the fields a person typed.
    pub fn validate(&self) -> Result<(), DomainError> {
        if self.customer == RecordId(0) {
            return Err(DomainError::Required { field: "customer".into() });
        }
        if !self.reason.is_empty() {
            required("reason", &self.reason)?;
        }
        text("reason", &self.reason, 2000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_round_trip_keeps_status() {
        let request = AssignmentRequest {
            id: RecordId(4),
            version: 2,
            customer: RecordId(9),
            requester: RecordId(3),
            reason: "我跟进过这家".into(),
            status: AssignmentStatus::Pending,
            created_at: DateTime::from_timestamp(1_700_000_000, 0).unwrap_or_default(),
        };
        let record = request.to_record().unwrap();
        assert_eq!(record.get("status").as_text(), Some("pending"));
        assert_eq!(AssignmentRequest::from_record(&record).unwrap(), request);
        assert!(request.validate().is_ok());
        let blank = AssignmentRequest { customer: RecordId(0), ..request };
        assert!(blank.validate().is_err());
    }
}
