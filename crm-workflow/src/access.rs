//! Node relationship permissions: what a user may see and do in one instance.
//!
//! Each approval node lists the fields of the bound record its approvers may see and edit;
//! approvers see the outcome of the nodes before theirs; only current assignees act; everyone
//! who takes part may view the instance and its history. These functions answer those
//! questions from a definition and a state, so the facade can enforce them the same way for
//! every shell.

use std::collections::{BTreeMap, BTreeSet};

use crm_domain::{RecordId, Value};

use crate::definition::ValidDefinition;
use crate::instance::{InstanceState, Task, TaskStatus};

/// A set of fields of the bound record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldSet {
    /// Every field.
    All,
    /// Only these fields.
    Only(BTreeSet<String>),
}

impl FieldSet {
    /// Whether the set holds `field`.
    pub fn contains(&self, field: &str) -> bool {
        match self {
            FieldSet::All => true,
            FieldSet::Only(fields) => fields.contains(field),
        }
    }

    /// The entries of `fields` the set holds.
    pub fn filter(&self, fields: &BTreeMap<String, Value>) -> BTreeMap<String, Value> {
        fields
            .iter()
            .filter(|(k, _)| self.contains(k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    fn add(&mut self, more: Option<&Vec<String>>) {
        match (more, &mut *self) {
            (_, FieldSet::All) => {}
            (None, _) => *self = FieldSet::All,
            (Some(list), FieldSet::Only(fields)) => fields.extend(list.iter().cloned()),
        }
    }
}

/// What one user may see and change of the bound record in one instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldAccess {
    /// The fields they may see.
    pub visible: FieldSet,
    /// The fields they may change while approving (from their open tasks only).
    pub editable: BTreeSet<String>,
}

/// The fields `user` may see and edit: the submitter sees every field; an approver sees the
/// union of what the nodes they hold or held tasks at allow and edits what their open tasks'
/// nodes allow; anyone else sees none.
pub fn field_access(
    definition: &ValidDefinition,
    state: &InstanceState,
    user: RecordId,
) -> FieldAccess {
    let mut visible =
        if user == state.submitter { FieldSet::All } else { FieldSet::Only(BTreeSet::new()) };
    let mut editable = BTreeSet::new();
    for task in state.tasks.iter().filter(|t| t.assignee == user) {
        let Some(approval) = definition.node(&task.node).and_then(|n| n.approval()) else {
            continue;
        };
        visible.add(approval.visible_fields.as_ref());
        if task.status == TaskStatus::Open {
            editable.extend(approval.editable_fields.iter().cloned());
        }
    }
    FieldAccess { visible, editable }
}

/// Whether `user` may view the instance and its history: everyone who takes part.
pub fn can_view(state: &InstanceState, user: RecordId) -> bool {
    state.takes_part(user)
}

/// Whether `user` may act on the instance now: current assignees only.
pub fn can_act(state: &InstanceState, user: RecordId) -> bool {
    state.open_tasks_of(user).next().is_some()
}

/// The decided tasks whose outcome `user` may see: all of them for the submitter; for an
/// approver, those of their own nodes and of the nodes before them; none for anyone else.
pub fn visible_decisions<'s>(
    definition: &ValidDefinition,
    state: &'s InstanceState,
    user: RecordId,
) -> Vec<&'s Task> {
    let decided = state.tasks.iter().filter(|t| t.status.is_decided());
    if user == state.submitter {
        return decided.collect();
    }
    let own: BTreeSet<&str> =
        state.tasks.iter().filter(|t| t.assignee == user).map(|t| t.node.as_str()).collect();
    decided
        .filter(|t| {
            own.contains(t.node.as_str())
                || own.iter().any(|mine| definition.reaches(&t.node, mine))
        })
        .collect()
}
