//! The approval status every request bound to a workflow carries.

use serde::{Deserialize, Serialize};

use crate::entity::{FieldDesc, FieldType};

/// The fields every record that goes through approval ends its description with: its
/// status, its approval instance and its times.
pub(crate) fn approval_fields() -> [FieldDesc; 4] {
    [
        FieldDesc::new("status", FieldType::Text, "Status", "状态").indexed(),
        FieldDesc::new("instance", FieldType::Ref, "Approval", "审批"),
        FieldDesc::new("created_at", FieldType::Timestamp, "Created", "创建时间")
            .indexed()
            .sortable(),
        FieldDesc::new("updated_at", FieldType::Timestamp, "Updated", "更新时间").sortable(),
    ]
}

/// Where a request bound to an approval flow stands; it follows the status of its approval.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalStatus {
    /// Written but not submitted.
    #[default]
    Draft,
    /// Waiting for approvers.
    Pending,
    /// Approved; what approval means is the form's business.
    Approved,
    /// Rejected by an approver.
    Rejected,
    /// Taken back by the person who submitted it.
    Withdrawn,
}

impl ApprovalStatus {
    /// Every status, in the order a request passes through them.
    pub const ALL: [ApprovalStatus; 5] = [
        ApprovalStatus::Draft,
        ApprovalStatus::Pending,
        ApprovalStatus::Approved,
        ApprovalStatus::Rejected,
        ApprovalStatus::Withdrawn,
    ];

    /// Whether the person who wrote the request may still change (or submit) it: as a
    /// draft, or after it was rejected or withdrawn.
    pub fn is_editable(self) -> bool {
        matches!(self, ApprovalStatus::Draft | ApprovalStatus::Rejected | ApprovalStatus::Withdrawn)
    }

    /// Reads a stored name back.
    pub fn parse(name: &str) -> Option<Self> {
        ApprovalStatus::ALL.into_iter().find(|s| s.as_str() == name.trim())
    }

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            ApprovalStatus::Draft => "draft",
            ApprovalStatus::Pending => "pending",
            ApprovalStatus::Approved => "approved",
            ApprovalStatus::Rejected => "rejected",
            ApprovalStatus::Withdrawn => "withdrawn",
        }
    }
}

impl std::fmt::Display for ApprovalStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
