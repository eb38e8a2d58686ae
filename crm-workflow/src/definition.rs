//! Workflow definitions: the graph of nodes and edges an administrator writes, bound to one
//! form type, and its validation into a [`ValidDefinition`] the engine runs on.
//!
//! A definition is plain data that reads from and writes to TOML or JSON (the format is
//! documented in the crate docs). [`Definition::validate`] checks it against the bound form's
//! fields and builds the petgraph graph; only a [`ValidDefinition`] can start or advance an
//! instance, so the engine never meets a definition with two starts, a dead end, a join
//! without its split, a condition on a missing field, or a loop no person has to act on.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;

use crm_domain::{EntityDesc, FieldType, RecordId};
use petgraph::algo::{dominators, tarjan_scc};
use petgraph::graph::{DiGraph, NodeIndex};
use serde::{Deserialize, Serialize};

use crate::condition::{Condition, ConditionProblem};
use crate::error::DefinitionError;

/// The form type a definition is bound to; submitting a record of that form starts an instance.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FormBinding {
    /// Quotes (报价单).
    Quote,
    /// Contracts (合同).
    Contract,
    /// Expense requests (费用).
    Expense,
    /// Reimbursement requests (报销).
    Reimbursement,
    /// Loan requests (借款).
    Loan,
    /// A salesperson's request to be assigned a customer or lead (资源分配申请).
    CustomerAssignment,
    /// A custom form, by the id of its form definition.
    Custom(RecordId),
}

impl FormBinding {
    /// The binding as one short text: `quote`, ..., `customer_assignment`, `custom:42`.
    /// Stores keep it in an indexed column.
    pub fn key(&self) -> String {
        match self {
            FormBinding::Quote => "quote".into(),
            FormBinding::Contract => "contract".into(),
            FormBinding::Expense => "expense".into(),
            FormBinding::Reimbursement => "reimbursement".into(),
            FormBinding::Loan => "loan".into(),
            FormBinding::CustomerAssignment => "customer_assignment".into(),
            FormBinding::Custom(id) => format!("custom:{id}"),
        }
    }

    /// Reads a binding back from [`FormBinding::key`].
    pub fn from_key(key: &str) -> Option<Self> {
        Some(match key {
            "quote" => FormBinding::Quote,
            "contract" => FormBinding::Contract,
            "expense" => FormBinding::Expense,
            "reimbursement" => FormBinding::Reimbursement,
            "loan" => FormBinding::Loan,
            "customer_assignment" => FormBinding::CustomerAssignment,
            other => FormBinding::Custom(other.strip_prefix("custom:")?.parse().ok()?),
        })
    }
}

impl fmt::Display for FormBinding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.key())
    }
}

/// One field of the bound form, as validation needs it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FormField {
    /// The field name conditions and permissions use (`custom.<name>` for custom fields).
    pub name: String,
    /// Its type.
    pub ty: FieldType,
}

impl FormField {
    /// A field called `name` of type `ty`.
    pub fn new(name: &str, ty: FieldType) -> Self {
        Self { name: name.to_owned(), ty }
    }

    /// The declared fields of an entity description.
    pub fn of(desc: &EntityDesc) -> Vec<FormField> {
        desc.fields.iter().map(|f| FormField::new(&f.name, f.ty)).collect()
    }
}

/// How the approvers of one approval node decide.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Any one of them approves for the node (或签); the others' tasks close.
    #[default]
    Any,
    /// Every one of them must approve (会签, countersign).
    All,
    /// One after another in the resolved order (依次审批).
    Sequence,
}

/// Where a position (职位) is looked for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PositionLookup {
    /// Every holder of the position in the organisation.
    #[default]
    Anywhere,
    /// Holders in the submitter's unit only.
    SubmitterUnit,
    /// Holders in the submitter's unit, else in its parent, and so on up to the root: the
    /// nearest unit with an active holder wins.
    SubmitterUnitAndAncestors,
}

/// One rule that names approvers (or notification recipients).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApproverRule {
    /// These users, in this order: `{ users = [12, 57] }`.
    Users(Vec<RecordId>),
    /// Holders of a position: `{ position = { name = "finance_manager" } }`.
    Position {
        /// The position's name as the organisation knows it.
        name: String,
        /// Where to look for holders.
        #[serde(default)]
        lookup: PositionLookup,
    },
    /// The manager of the submitter's unit, that many levels up (0 is the submitter's own
    /// unit): `{ unit_manager = 1 }`.
    UnitManager(u32),
    /// The submitter's supervisor: `"supervisor"`.
    Supervisor,
}

/// What an approval node needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Approval {
    /// The rules whose union (in order, without duplicates) gives the approvers.
    pub approvers: Vec<ApproverRule>,
    /// How they decide.
    #[serde(default)]
    pub mode: Mode,
    /// Whether the submitter may approve their own request here.
    #[serde(default, skip_serializing_if = "is_false")]
    pub allow_self_approval: bool,
    /// The fields of the bound record the approvers may see; absent means all of them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visible_fields: Option<Vec<String>>,
    /// The fields they may change while approving.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub editable_fields: Vec<String>,
}

fn is_false(value: &bool) -> bool {
    !*value
}

/// What a notify node needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notify {
    /// The rules that name who is told (inactive users are skipped).
    pub recipients: Vec<ApproverRule>,
}

/// The type of a node and what that type needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum NodeKind {
    /// Where every round begins; exactly one per definition, one outgoing edge.
    Start,
    /// People decide; one outgoing edge.
    Approval(Approval),
    /// An exclusive gateway: the first outgoing edge whose condition holds is taken, else the
    /// one edge without a condition.
    Gateway,
    /// A parallel split: every outgoing edge is taken at once.
    Split,
    /// A parallel join: waits for every branch of its split; one outgoing edge.
    Join,
    /// Tells people and moves on; one outgoing edge.
    Notify(Notify),
    /// The request is approved once every branch has reached an end.
    End,
}

impl NodeKind {
    /// The type's name as written in definitions.
    pub fn name(&self) -> &'static str {
        match self {
            NodeKind::Start => "start",
            NodeKind::Approval(_) => "approval",
            NodeKind::Gateway => "gateway",
            NodeKind::Split => "split",
            NodeKind::Join => "join",
            NodeKind::Notify(_) => "notify",
            NodeKind::End => "end",
        }
    }
}

/// One node of the graph.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Node {
    /// The id edges, events and errors name it by; unique in the definition.
    pub id: String,
    /// What people see; the id when empty.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub label: String,
    /// The type and what it needs.
    #[serde(flatten)]
    pub kind: NodeKind,
}

impl Node {
    /// The label, or the id when the label is empty.
    pub fn display_label(&self) -> &str {
        if self.label.is_empty() {
            &self.id
        } else {
            &self.label
        }
    }

    /// The approval settings, if this is an approval node.
    pub fn approval(&self) -> Option<&Approval> {
        match &self.kind {
            NodeKind::Approval(approval) => Some(approval),
            _ => None,
        }
    }
}

/// One edge of the graph.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Edge {
    /// The node it leaves.
    pub from: String,
    /// The node it enters.
    pub to: String,
    /// The branch condition; only on edges that leave a gateway.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<Condition>,
}

/// A workflow definition as written. Validate it before use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Definition {
    /// The name instances and the CLI refer to: a lowercase identifier.
    pub name: String,
    /// The version; the store assigns it when the definition is saved.
    #[serde(default)]
    pub version: u32,
    /// A title for people.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub title: String,
    /// The bound form type.
    pub form: FormBinding,
    /// Who gets a task when a node resolves to no active approver.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback_approver: Option<RecordId>,
    /// The nodes.
    pub nodes: Vec<Node>,
    /// The edges.
    #[serde(default)]
    pub edges: Vec<Edge>,
}

impl Definition {
    /// Reads a definition from TOML.
    pub fn from_toml(text: &str) -> Result<Self, DefinitionError> {
        toml::from_str(text).map_err(|e| DefinitionError::Parse(e.to_string()))
    }

    /// Reads a definition from JSON.
    pub fn from_json(text: &str) -> Result<Self, DefinitionError> {
        serde_json::from_str(text).map_err(|e| DefinitionError::Parse(e.to_string()))
    }

    /// Reads JSON when the text opens with `{`, TOML otherwise.
    pub fn parse(text: &str) -> Result<Self, DefinitionError> {
        if text.trim_start().starts_with('{') {
            Self::from_json(text)
        } else {
            Self::from_toml(text)
        }
    }

    /// Writes the definition as TOML.
    pub fn to_toml(&self) -> Result<String, DefinitionError> {
        toml::to_string(self).map_err(|e| DefinitionError::Write(e.to_string()))
    }

    /// Writes the definition as pretty JSON.
    pub fn to_json(&self) -> Result<String, DefinitionError> {
        serde_json::to_string_pretty(self).map_err(|e| DefinitionError::Write(e.to_string()))
    }

    /// Checks the definition against the bound form's fields and builds its graph.
    ///
    /// Refuses, with an error naming the node: no start or several starts; duplicate nodes or
    /// edges; edges to undeclared nodes; a node with the wrong edges for its type; a node the
    /// start cannot reach or that cannot reach an end; a join that no split opens, a split
    /// without its join, a branch that leaves its parallel section; a condition or permission
    /// naming a field the form lacks or comparing it with the wrong type; a loop that passes
    /// no approval node ("would loop without a person acting") or re-enters a parallel
    /// section from inside it.
    pub fn validate(&self, form_fields: &[FormField]) -> Result<ValidDefinition, DefinitionError> {
        check_name(&self.name)?;
        self.check_texts()?;
        let fields: BTreeMap<String, FieldType> =
            form_fields.iter().map(|f| (f.name.clone(), f.ty)).collect();
        let ids = self.node_ids()?;
        let start = self.single_start()?;

        let mut graph: DiGraph<(), ()> = DiGraph::with_capacity(self.nodes.len(), self.edges.len());
        for _ in &self.nodes {
            graph.add_node(());
        }
        let mut outgoing: Vec<Vec<usize>> = vec![Vec::new(); self.nodes.len()];
        let mut incoming: Vec<Vec<usize>> = vec![Vec::new(); self.nodes.len()];
        let mut seen = BTreeSet::new();
        for (e, edge) in self.edges.iter().enumerate() {
            let lookup = |node: &str| {
                ids.get(node).copied().ok_or_else(|| DefinitionError::UnknownNode {
                    from: edge.from.clone(),
                    to: edge.to.clone(),
                    node: node.to_owned(),
                })
            };
            let (from, to) = (lookup(&edge.from)?, lookup(&edge.to)?);
            if !seen.insert((from, to)) {
                return Err(DefinitionError::DuplicateEdge {
                    from: edge.from.clone(),
                    to: edge.to.clone(),
                });
            }
            graph.add_edge(NodeIndex::new(from), NodeIndex::new(to), ());
            push(&mut outgoing, from, e);
            push(&mut incoming, to, e);
        }

        self.check_edges(&outgoing, &incoming)?;
        self.check_nodes(&fields)?;

        let forward = adjacency(&self.edges, &ids, &outgoing, |e| &e.to);
        let backward = adjacency(&self.edges, &ids, &incoming, |e| &e.from);
        let from_start = reachable(&[start], &forward, None);
        if let Some(node) = (0..self.nodes.len()).find(|n| !from_start.contains(n)) {
            return Err(DefinitionError::Unreachable { node: self.id_of(node) });
        }
        let ends: Vec<usize> = self.indices(|k| matches!(k, NodeKind::End));
        let to_end = reachable(&ends, &backward, None);
        if let Some(node) = (0..self.nodes.len()).find(|n| !to_end.contains(n)) {
            return Err(DefinitionError::CannotReachEnd { node: self.id_of(node) });
        }

        self.check_loops(&graph)?;
        let (join_split, parallel) = self.pair_joins(&graph, start, &forward)?;

        Ok(ValidDefinition {
            step_limit: 8 * (self.nodes.len() + self.edges.len()) + 16,
            definition: self.clone(),
            graph,
            ids,
            outgoing,
            start,
            fields,
            join_split,
            parallel,
        })
    }

    fn id_of(&self, index: usize) -> String {
        self.nodes.get(index).map(|n| n.id.clone()).unwrap_or_default()
    }

    fn indices(&self, wanted: impl Fn(&NodeKind) -> bool) -> Vec<usize> {
        self.nodes.iter().enumerate().filter(|(_, n)| wanted(&n.kind)).map(|(i, _)| i).collect()
    }

    /// Refuses a title or node label that is longer than 200 characters or holds control or
    /// direction control characters: both are drawn on pages and pictures.
    fn check_texts(&self) -> Result<(), DefinitionError> {
        let labels = self.nodes.iter().map(|n| (format!("node {:?} label", n.id), &n.label));
        for (what, text) in std::iter::once(("title".to_owned(), &self.title)).chain(labels) {
            let unshowable = text
                .chars()
                .find(|c| c.is_control())
                .or_else(|| crm_domain::text::direction_control(text));
            let reason = if text.chars().count() > 200 {
                Some("is longer than 200 characters".to_owned())
            } else {
                unshowable.map(|c| format!("contains the character U+{:04X}", u32::from(c)))
            };
            if let Some(reason) = reason {
                return Err(DefinitionError::BadText { what, reason });
            }
        }
        Ok(())
    }

    fn node_ids(&self) -> Result<BTreeMap<String, usize>, DefinitionError> {
        let mut ids = BTreeMap::new();
        for (i, node) in self.nodes.iter().enumerate() {
            let bad = node.id.trim().is_empty()
                || node.id.chars().count() > 64
                || node.id.chars().any(char::is_control);
            if bad {
                return Err(DefinitionError::BadNodeId { position: i + 1 });
            }
            if ids.insert(node.id.clone(), i).is_some() {
                return Err(DefinitionError::DuplicateNode { node: node.id.clone() });
            }
        }
        Ok(ids)
    }

    fn single_start(&self) -> Result<usize, DefinitionError> {
        let starts = self.indices(|k| matches!(k, NodeKind::Start));
        match starts.as_slice() {
            [] => Err(DefinitionError::NoStart),
            [start] => Ok(*start),
            several => Err(DefinitionError::SeveralStarts {
                nodes: several.iter().map(|i| self.id_of(*i)).collect(),
            }),
        }
    }

    fn check_edges(
        &self,
        outgoing: &[Vec<usize>],
        incoming: &[Vec<usize>],
    ) -> Result<(), DefinitionError> {
        for (i, node) in self.nodes.iter().enumerate() {
            let outs = outgoing.get(i).map_or(&[][..], Vec::as_slice);
            let ins = incoming.get(i).map_or(0, Vec::len);
            let bad = |reason: String| DefinitionError::BadEdges { node: node.id.clone(), reason };
            let kind = node.kind.name();
            match &node.kind {
                NodeKind::Start if ins > 0 => {
                    return Err(bad("a start node cannot have incoming edges".into()));
                }
                NodeKind::End if !outs.is_empty() => {
                    return Err(bad("an end node cannot have outgoing edges".into()));
                }
                NodeKind::Split if outs.len() < 2 => {
                    return Err(bad(format!(
                        "a split needs two or more outgoing edges, not {}",
                        outs.len()
                    )));
                }
                NodeKind::Gateway => {
                    if outs.is_empty() {
                        return Err(bad("a gateway needs outgoing edges".into()));
                    }
                    let defaults = outs
                        .iter()
                        .filter(|e| self.edges.get(**e).is_some_and(|e| e.when.is_none()));
                    if defaults.count() > 1 {
                        return Err(bad(
                            "a gateway has at most one edge without a condition".into()
                        ));
                    }
                }
                NodeKind::Start | NodeKind::Approval(_) | NodeKind::Join | NodeKind::Notify(_)
                    if outs.len() != 1 =>
                {
                    return Err(bad(format!(
                        "a {kind} node needs exactly one outgoing edge, not {}",
                        outs.len()
                    )));
                }
                _ => {}
            }
            if !matches!(node.kind, NodeKind::Gateway)
                && outs.iter().any(|e| self.edges.get(*e).is_some_and(|e| e.when.is_some()))
            {
                return Err(bad("only edges leaving a gateway carry conditions".into()));
            }
        }
        Ok(())
    }

    fn check_nodes(&self, fields: &BTreeMap<String, FieldType>) -> Result<(), DefinitionError> {
        for node in &self.nodes {
            let unknown = |field: &str| DefinitionError::UnknownAccessField {
                node: node.id.clone(),
                field: field.to_owned(),
            };
            match &node.kind {
                NodeKind::Approval(approval) => {
                    if approval.approvers.is_empty() {
                        return Err(DefinitionError::NoApprovers { node: node.id.clone() });
                    }
                    let visible = approval.visible_fields.iter().flatten();
                    if let Some(field) =
                        visible.chain(&approval.editable_fields).find(|f| !fields.contains_key(*f))
                    {
                        return Err(unknown(field));
                    }
                    if let Some(visible) = &approval.visible_fields {
                        if let Some(field) =
                            approval.editable_fields.iter().find(|f| !visible.contains(f))
                        {
                            return Err(DefinitionError::EditableNotVisible {
                                node: node.id.clone(),
                                field: field.clone(),
                            });
                        }
                    }
                }
                NodeKind::Notify(notify) if notify.recipients.is_empty() => {
                    return Err(DefinitionError::NoRecipients { node: node.id.clone() });
                }
                _ => {}
            }
        }
        for edge in &self.edges {
            let Some(condition) = &edge.when else { continue };
            condition.check(fields).map_err(|problem| match problem {
                ConditionProblem::UnknownField(field) => {
                    DefinitionError::UnknownField { node: edge.from.clone(), field }
                }
                ConditionProblem::Mismatch { field, reason } => {
                    DefinitionError::BadCondition { node: edge.from.clone(), field, reason }
                }
                ConditionProblem::Empty => DefinitionError::BadCondition {
                    node: edge.from.clone(),
                    field: String::new(),
                    reason: "an and/or/in without parts".into(),
                },
            })?;
        }
        Ok(())
    }

    /// Refuses loops that pass no approval node.
    fn check_loops(&self, graph: &DiGraph<(), ()>) -> Result<(), DefinitionError> {
        let is_approval =
            |n: NodeIndex| self.nodes.get(n.index()).is_some_and(|node| node.approval().is_some());
        let mut automatic: DiGraph<(), ()> = DiGraph::with_capacity(graph.node_count(), 0);
        for _ in graph.node_indices() {
            automatic.add_node(());
        }
        for edge in graph.raw_edges() {
            if !is_approval(edge.source()) && !is_approval(edge.target()) {
                automatic.add_edge(edge.source(), edge.target(), ());
            }
        }
        for component in tarjan_scc(&automatic) {
            let looping =
                component.len() > 1 || component.iter().any(|n| automatic.contains_edge(*n, *n));
            if looping {
                let first = component.iter().map(|n| n.index()).min().unwrap_or_default();
                return Err(DefinitionError::WouldLoop { node: self.id_of(first) });
            }
        }
        Ok(())
    }

    /// Pairs every join with the split that dominates it and returns the pairs and the nodes
    /// inside parallel sections.
    fn pair_joins(
        &self,
        graph: &DiGraph<(), ()>,
        start: usize,
        forward: &[Vec<usize>],
    ) -> Result<(BTreeMap<usize, usize>, BTreeSet<usize>), DefinitionError> {
        let is = |n: usize, want: fn(&NodeKind) -> bool| {
            self.nodes.get(n).is_some_and(|x| want(&x.kind))
        };
        let dominators = dominators::simple_fast(graph, NodeIndex::new(start));
        let mut join_split = BTreeMap::new();
        let mut split_join: BTreeMap<usize, usize> = BTreeMap::new();
        for join in self.indices(|k| matches!(k, NodeKind::Join)) {
            let split = dominators
                .immediate_dominator(NodeIndex::new(join))
                .map(|n| n.index())
                .filter(|s| is(*s, |k| matches!(k, NodeKind::Split)));
            let Some(split) = split else {
                return Err(DefinitionError::JoinWithoutSplit { node: self.id_of(join) });
            };
            if split_join.insert(split, join).is_some() {
                return Err(DefinitionError::JoinWithoutSplit { node: self.id_of(join) });
            }
            join_split.insert(join, split);
        }
        let mut parallel = BTreeSet::new();
        for split in self.indices(|k| matches!(k, NodeKind::Split)) {
            let Some(join) = split_join.get(&split).copied() else {
                return Err(DefinitionError::SplitWithoutJoin { node: self.id_of(split) });
            };
            let firsts = forward.get(split).cloned().unwrap_or_default();
            let section = reachable(&firsts, forward, Some(join));
            // A loop may pass a whole parallel section, but not re-enter its split from
            // inside it, nor come back to its join without passing the split again: either
            // would make the join count branches of two different passes.
            if section.contains(&split) {
                return Err(DefinitionError::ParallelLoop { node: self.id_of(split) });
            }
            let after = forward.get(join).cloned().unwrap_or_default();
            if reachable(&after, forward, Some(split)).contains(&join) {
                return Err(DefinitionError::ParallelLoop { node: self.id_of(join) });
            }
            let escapes = section.iter().copied().find(|n| {
                is(*n, |k| matches!(k, NodeKind::End))
                    || join_split.get(n).is_some_and(|inner| !section.contains(inner))
            });
            if let Some(node) = escapes {
                return Err(DefinitionError::BranchEscapes {
                    split: self.id_of(split),
                    node: self.id_of(node),
                });
            }
            parallel.extend(section);
        }
        Ok((join_split, parallel))
    }
}

fn push(lists: &mut [Vec<usize>], at: usize, value: usize) {
    if let Some(list) = lists.get_mut(at) {
        list.push(value);
    }
}

/// Node-to-node adjacency in edge declaration order.
fn adjacency(
    edges: &[Edge],
    ids: &BTreeMap<String, usize>,
    by_node: &[Vec<usize>],
    other_end: impl Fn(&Edge) -> &String,
) -> Vec<Vec<usize>> {
    by_node
        .iter()
        .map(|list| {
            list.iter()
                .filter_map(|e| edges.get(*e))
                .filter_map(|edge| ids.get(other_end(edge)).copied())
                .collect()
        })
        .collect()
}

/// Every node reachable from `from` (included) along `adjacency`, never entering `stop`.
fn reachable(from: &[usize], adjacency: &[Vec<usize>], stop: Option<usize>) -> BTreeSet<usize> {
    let mut seen = BTreeSet::new();
    let mut queue: VecDeque<usize> = from.iter().copied().filter(|n| Some(*n) != stop).collect();
    while let Some(node) = queue.pop_front() {
        if !seen.insert(node) {
            continue;
        }
        for next in adjacency.get(node).into_iter().flatten() {
            if Some(*next) != stop && !seen.contains(next) {
                queue.push_back(*next);
            }
        }
    }
    seen
}

fn check_name(name: &str) -> Result<(), DefinitionError> {
    let mut bytes = name.bytes();
    let first_ok = bytes.next().is_some_and(|b| b.is_ascii_lowercase());
    let rest_ok = bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if first_ok && rest_ok && name.len() <= 48 {
        Ok(())
    } else {
        Err(DefinitionError::BadName { name: name.to_owned() })
    }
}

/// What a return to an earlier node starts again; see [`ValidDefinition::return_plan`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReturnPlan {
    /// The nodes whose open tasks, active visits and waiting state are cancelled.
    pub reset: BTreeSet<String>,
    /// Joins whose arrival count is set: `0` for a section that runs again from its split,
    /// its branch count less one for a section the return goes into.
    pub joins: BTreeMap<String, u32>,
}

/// A definition that passed validation, with its graph. The engine runs only on these.
#[derive(Debug, Clone)]
pub struct ValidDefinition {
    definition: Definition,
    /// Node `i` of the graph is `definition.nodes[i]`.
    graph: DiGraph<(), ()>,
    ids: BTreeMap<String, usize>,
    /// Edge indices leaving each node, in declaration order.
    outgoing: Vec<Vec<usize>>,
    start: usize,
    fields: BTreeMap<String, FieldType>,
    join_split: BTreeMap<usize, usize>,
    parallel: BTreeSet<usize>,
    step_limit: usize,
}

impl ValidDefinition {
    /// The definition as written.
    pub fn definition(&self) -> &Definition {
        &self.definition
    }

    /// The definition's name.
    pub fn name(&self) -> &str {
        &self.definition.name
    }

    /// The definition's version.
    pub fn version(&self) -> u32 {
        self.definition.version
    }

    /// The bound form type.
    pub fn form(&self) -> &FormBinding {
        &self.definition.form
    }

    /// The fields of the bound form it was validated against.
    pub fn form_fields(&self) -> Vec<FormField> {
        self.fields.iter().map(|(name, ty)| FormField::new(name, *ty)).collect()
    }

    /// The type of a field of the bound form.
    pub fn field_type(&self, field: &str) -> Option<FieldType> {
        self.fields.get(field).copied()
    }

    /// The node with this id.
    pub fn node(&self, id: &str) -> Option<&Node> {
        self.ids.get(id).and_then(|i| self.definition.nodes.get(*i))
    }

    /// The start node.
    pub fn start(&self) -> &Node {
        // Validation found the start at this index, and the nodes never change afterwards.
        &self.definition.nodes[self.start]
    }

    /// The edges leaving `node`, in declaration order.
    pub fn outgoing(&self, node: &str) -> Vec<&Edge> {
        self.ids
            .get(node)
            .and_then(|i| self.outgoing.get(*i))
            .into_iter()
            .flatten()
            .filter_map(|e| self.definition.edges.get(*e))
            .collect()
    }

    /// Whether a path leads from `from` to `to` (a node reaches itself only on a loop).
    pub fn reaches(&self, from: &str, to: &str) -> bool {
        let (Some(from), Some(to)) = (self.ids.get(from), self.ids.get(to)) else {
            return false;
        };
        let firsts: Vec<usize> =
            self.graph.neighbors(NodeIndex::new(*from)).map(|n| n.index()).collect();
        let forward: Vec<Vec<usize>> = self
            .graph
            .node_indices()
            .map(|n| self.graph.neighbors(n).map(|m| m.index()).collect())
            .collect();
        reachable(&firsts, &forward, None).contains(to)
    }

    /// What a return from node `from` to the earlier approval node `to` starts again, so
    /// that only the work between the two is redone: inside a parallel section, the other
    /// branches keep their progress. `None` when `to` does not lead to `from`.
    ///
    /// The reset covers every node on a path from `to` to `from`, and whole parallel sections
    /// whose split lies on such a path (they run again from their split). A join on the path
    /// whose split does not (the return goes into one branch of its section) keeps the other
    /// branches as arrived, so the restarted branch alone completes it.
    pub fn return_plan(&self, to: &str, from: &str) -> Option<ReturnPlan> {
        let (&to_at, &from_at) = (self.ids.get(to)?, self.ids.get(from)?);
        let forward: Vec<Vec<usize>> = self
            .graph
            .node_indices()
            .map(|n| self.graph.neighbors(n).map(|m| m.index()).collect())
            .collect();
        let section = |split: usize, join: usize| {
            let firsts = forward.get(split).cloned().unwrap_or_default();
            reachable(&firsts, &forward, Some(join))
        };
        // A way from `to` that comes back into a section holding `to` through its split has
        // gone round a loop: that is a later pass, not the way the request came.
        let enclosing: BTreeSet<usize> = self
            .join_split
            .iter()
            .filter(|(join, split)| section(**split, **join).contains(&to_at))
            .map(|(_, split)| *split)
            .collect();
        let after = |n: usize| {
            let mut seen = BTreeSet::new();
            let mut queue: VecDeque<usize> = forward.get(n).cloned().unwrap_or_default().into();
            while let Some(next) = queue.pop_front() {
                if !enclosing.contains(&next) && seen.insert(next) {
                    queue.extend(forward.get(next).into_iter().flatten().copied());
                }
            }
            seen
        };
        let from_to = after(to_at);
        if !from_to.contains(&from_at) {
            return None;
        }
        let mut on_path: BTreeSet<usize> =
            from_to.into_iter().filter(|n| *n == from_at || after(*n).contains(&from_at)).collect();
        on_path.insert(to_at);

        let mut reset = on_path.clone();
        let mut joins = BTreeMap::new();
        for (&join, &split) in &self.join_split {
            let id = self.node_at(join).map(|n| n.id.clone()).unwrap_or_default();
            if on_path.contains(&split) {
                reset.extend(section(split, join));
                joins.insert(id, 0);
            } else if on_path.contains(&join) {
                let branches = forward.get(split).map_or(0, Vec::len) as u32;
                joins.insert(id, branches.saturating_sub(1));
            }
        }
        let reset =
            reset.into_iter().filter_map(|n| self.node_at(n).map(|n| n.id.clone())).collect();
        Some(ReturnPlan { reset, joins })
    }

    /// The split a join closes.
    pub fn split_of(&self, join: &str) -> Option<&Node> {
        let join = self.ids.get(join)?;
        self.join_split.get(join).and_then(|s| self.node_at(*s))
    }

    /// Whether the node lies between a parallel split and its join.
    pub fn in_parallel_section(&self, node: &str) -> bool {
        self.ids.get(node).is_some_and(|i| self.parallel.contains(i))
    }

    /// How many automatic steps one action may take before the engine refuses it.
    pub fn step_limit(&self) -> usize {
        self.step_limit
    }

    fn node_at(&self, index: usize) -> Option<&Node> {
        self.definition.nodes.get(index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields() -> Vec<FormField> {
        vec![FormField::new("amount", FieldType::Decimal), FormField::new("note", FieldType::Text)]
    }

    fn parse(text: &str) -> Definition {
        Definition::from_toml(text).unwrap()
    }

    const HEAD: &str = "name = \"t\"\nform = \"quote\"\n";

    fn with(body: &str) -> Definition {
        parse(&format!("{HEAD}{body}"))
    }

    const APPROVE: &str = "approvers = [{ users = [1] }]";

    #[test]
    fn titles_and_labels_must_be_showable() {
        let body = |title: &str, label: &str| {
            with(&format!(
                "title = '{title}'\nnodes = [{{ id = \"s\", type = \"start\", label = '{label}' }}, \
                 {{ id = \"e\", type = \"end\" }}]\nedges = [{{ from = \"s\", to = \"e\" }}]"
            ))
        };
        assert!(body("报价审批", "提交").validate(&fields()).is_ok());
        let reordered = body("报价\u{202E}审批", "提交").validate(&fields()).unwrap_err();
        assert!(
            matches!(&reordered, DefinitionError::BadText { what, .. } if what == "title"),
            "{reordered:?}"
        );
        let long = body("t", &"长".repeat(201)).validate(&fields()).unwrap_err();
        assert!(long.to_string().contains("node \"s\" label"), "{long}");
    }

    #[test]
    fn node_and_binding_formats_read_as_documented() {
        let definition = with(
            r#"
            nodes = [
              { id = "s", type = "start" },
              { id = "a", type = "approval", approvers = ["supervisor", { unit_manager = 1 }, { position = { name = "cfo", lookup = "submitter_unit_and_ancestors" } }], mode = "all", editable_fields = ["note"] },
              { id = "g", type = "gateway" },
              { id = "n", type = "notify", recipients = [{ users = [3] }] },
              { id = "e", type = "end" },
            ]
            edges = [
              { from = "s", to = "a" }, { from = "a", to = "g" },
              { from = "g", to = "n", when = "amount > 5" }, { from = "g", to = "e" },
              { from = "n", to = "e" },
            ]
            "#,
        );
        let approval = definition.nodes[1].approval().unwrap();
        assert_eq!(approval.mode, Mode::All);
        assert_eq!(
            approval.approvers,
            vec![
                ApproverRule::Supervisor,
                ApproverRule::UnitManager(1),
                ApproverRule::Position {
                    name: "cfo".into(),
                    lookup: PositionLookup::SubmitterUnitAndAncestors
                },
            ]
        );
        assert!(definition.validate(&fields()).is_ok());
        let json = definition.to_json().unwrap();
        assert_eq!(Definition::parse(&json).unwrap(), definition);
        let toml = definition.to_toml().unwrap();
        assert_eq!(Definition::parse(&toml).unwrap(), definition);
        assert_eq!(FormBinding::from_key("custom:42"), Some(FormBinding::Custom(RecordId(42))));
        let custom = Definition::from_toml(
            "name = \"c\"\nform = { custom = 42 }\nnodes = [{ id = \"s\", type = \"start\" }]",
        )
        .unwrap();
        assert_eq!(custom.form, FormBinding::Custom(RecordId(42)));
        assert!(custom.to_json().unwrap().contains("\"custom\": 42"));
        assert_eq!(FormBinding::from_key(&FormBinding::Loan.key()), Some(FormBinding::Loan));
    }

    fn refused(body: &str) -> DefinitionError {
        with(body).validate(&fields()).unwrap_err()
    }

    #[test]
    fn refuses_missing_and_several_starts() {
        assert_eq!(refused(r#"nodes = [{ id = "e", type = "end" }]"#), DefinitionError::NoStart);
        let err = refused(
            r#"nodes = [{ id = "s1", type = "start" }, { id = "s2", type = "start" },
                        { id = "e", type = "end" }]
               edges = [{ from = "s1", to = "e" }, { from = "s2", to = "e" }]"#,
        );
        assert_eq!(err, DefinitionError::SeveralStarts { nodes: vec!["s1".into(), "s2".into()] });
        assert_eq!(err.to_string(), "the definition has several start nodes: s1, s2");
    }

    #[test]
    fn refuses_a_node_that_cannot_reach_an_end() {
        let err = refused(&format!(
            r#"nodes = [{{ id = "s", type = "start" }}, {{ id = "g", type = "gateway" }},
                        {{ id = "a", type = "approval", {APPROVE} }},
                        {{ id = "stuck", type = "approval", {APPROVE} }},
                        {{ id = "e", type = "end" }}]
               edges = [{{ from = "s", to = "g" }}, {{ from = "g", to = "a", when = "amount > 1" }},
                        {{ from = "g", to = "stuck" }}, {{ from = "a", to = "e" }},
                        {{ from = "stuck", to = "stuck" }}]"#
        ));
        assert_eq!(err, DefinitionError::CannotReachEnd { node: "stuck".into() });
    }

    #[test]
    fn refuses_a_join_without_its_split() {
        let err = refused(&format!(
            r#"nodes = [{{ id = "s", type = "start" }},
                        {{ id = "a", type = "approval", {APPROVE} }},
                        {{ id = "j", type = "join" }}, {{ id = "e", type = "end" }}]
               edges = [{{ from = "s", to = "a" }}, {{ from = "a", to = "j" }},
                        {{ from = "j", to = "e" }}]"#
        ));
        assert_eq!(err, DefinitionError::JoinWithoutSplit { node: "j".into() });
        assert_eq!(
            err.to_string(),
            "join \"j\" has no parallel split that every path to it passes"
        );
    }

    #[test]
    fn refuses_a_branch_that_ends_inside_a_parallel_section() {
        let err = refused(&format!(
            r#"nodes = [{{ id = "s", type = "start" }}, {{ id = "p", type = "split" }},
                        {{ id = "a", type = "approval", {APPROVE} }},
                        {{ id = "b", type = "approval", {APPROVE} }},
                        {{ id = "g", type = "gateway" }},
                        {{ id = "j", type = "join" }}, {{ id = "e", type = "end" }}]
               edges = [{{ from = "s", to = "p" }}, {{ from = "p", to = "a" }},
                        {{ from = "p", to = "b" }},
                        {{ from = "a", to = "j" }}, {{ from = "b", to = "g" }},
                        {{ from = "g", to = "j", when = "amount > 1" }}, {{ from = "g", to = "e" }},
                        {{ from = "j", to = "e" }}]"#
        ));
        assert_eq!(err, DefinitionError::BranchEscapes { split: "p".into(), node: "e".into() });
    }

    #[test]
    fn refuses_conditions_on_fields_the_form_lacks() {
        let err = refused(&format!(
            r#"nodes = [{{ id = "s", type = "start" }}, {{ id = "big", type = "gateway" }},
                        {{ id = "a", type = "approval", {APPROVE} }}, {{ id = "e", type = "end" }}]
               edges = [{{ from = "s", to = "big" }},
                        {{ from = "big", to = "a", when = "total > 1" }},
                        {{ from = "big", to = "e" }}, {{ from = "a", to = "e" }}]"#
        ));
        assert_eq!(
            err,
            DefinitionError::UnknownField { node: "big".into(), field: "total".into() }
        );
        assert_eq!(
            err.to_string(),
            "node \"big\": the condition names field \"total\", which the bound form lacks"
        );
    }

    #[test]
    fn refuses_a_loop_no_person_acts_on() {
        let err = refused(
            r#"nodes = [{ id = "s", type = "start" }, { id = "g1", type = "gateway" },
                        { id = "g2", type = "gateway" }, { id = "e", type = "end" }]
               edges = [{ from = "s", to = "g1" }, { from = "g1", to = "g2" },
                        { from = "g2", to = "g1", when = "amount > 1" },
                        { from = "g2", to = "e" }]"#,
        );
        assert_eq!(err, DefinitionError::WouldLoop { node: "g1".into() });
        assert_eq!(err.to_string(), "node \"g1\" would loop without a person acting");
    }

    #[test]
    fn refuses_loops_that_reenter_a_parallel_section_from_inside() {
        let section = |back: &str| {
            format!(
                r#"nodes = [{{ id = "s", type = "start" }}, {{ id = "p", type = "split" }},
                        {{ id = "a", type = "approval", {APPROVE} }},
                        {{ id = "b", type = "approval", {APPROVE} }},
                        {{ id = "g", type = "gateway" }}, {{ id = "j", type = "join" }},
                        {{ id = "c", type = "approval", {APPROVE} }},
                        {{ id = "h", type = "gateway" }},
                        {{ id = "e", type = "end" }}]
                   edges = [{{ from = "s", to = "p" }}, {{ from = "p", to = "a" }},
                            {{ from = "p", to = "b" }},
                        {{ from = "a", to = "g" }}, {{ from = "g", to = "j" }},
                        {{ from = "b", to = "j" }},
                        {{ from = "j", to = "c" }}, {{ from = "c", to = "h" }},
                        {{ from = "h", to = "e" }},
                        {back}]"#
            )
        };
        let whole = section(r#"{ from = "h", to = "p", when = "amount > 1" }"#);
        assert!(with(&whole).validate(&fields()).is_ok());
        let from_inside = section(r#"{ from = "g", to = "p", when = "amount > 1" }"#);
        assert_eq!(
            with(&from_inside).validate(&fields()).unwrap_err(),
            DefinitionError::ParallelLoop { node: "p".into() }
        );
        let to_join = section(r#"{ from = "h", to = "j", when = "amount > 1" }"#);
        assert_eq!(
            with(&to_join).validate(&fields()).unwrap_err(),
            DefinitionError::ParallelLoop { node: "j".into() }
        );
    }

    #[test]
    fn accepts_a_loop_through_an_approval() {
        let definition = with(&format!(
            r#"nodes = [{{ id = "s", type = "start" }},
                        {{ id = "a", type = "approval", {APPROVE} }},
                        {{ id = "g", type = "gateway" }}, {{ id = "e", type = "end" }}]
               edges = [{{ from = "s", to = "a" }}, {{ from = "a", to = "g" }},
                        {{ from = "g", to = "a", when = "amount > 1" }},
                        {{ from = "g", to = "e" }}]"#
        ));
        let valid = definition.validate(&fields()).unwrap();
        assert!(valid.reaches("a", "a"));
        assert!(!valid.reaches("e", "a"));
    }

    #[test]
    fn refuses_bad_edges_and_fields() {
        let err = refused(&format!(
            r#"nodes = [{{ id = "s", type = "start" }},
                        {{ id = "a", type = "approval", {APPROVE} }},
                        {{ id = "e", type = "end" }}]
               edges = [{{ from = "s", to = "a" }}, {{ from = "a", to = "e" }},
                        {{ from = "a", to = "s" }}]"#
        ));
        assert!(matches!(err, DefinitionError::BadEdges { node, .. } if node == "s"));
        let err = refused(
            r#"nodes = [{ id = "s", type = "start" }, { id = "e", type = "end" }]
               edges = [{ from = "s", to = "x" }]"#,
        );
        assert_eq!(
            err,
            DefinitionError::UnknownNode { from: "s".into(), to: "x".into(), node: "x".into() }
        );
        let err = refused(
            r#"nodes = [{ id = "s", type = "start" },
                        { id = "a", type = "approval", approvers = ["supervisor"], visible_fields = ["amount"], editable_fields = ["note"] },
                        { id = "e", type = "end" }]
               edges = [{ from = "s", to = "a" }, { from = "a", to = "e" }]"#,
        );
        assert_eq!(
            err,
            DefinitionError::EditableNotVisible { node: "a".into(), field: "note".into() }
        );
        let err = refused(
            r#"nodes = [{ id = "s", type = "start" }, { id = "e", type = "end" },
                        { id = "lost", type = "end" }]
               edges = [{ from = "s", to = "e" }]"#,
        );
        assert_eq!(err, DefinitionError::Unreachable { node: "lost".into() });
        assert!(matches!(
            Definition::from_toml(
                "name = \"x\"\nform = \"quote\"\nnodes = [{ id = \"s\", type = \"fork\" }]"
            ),
            Err(DefinitionError::Parse(_))
        ));
    }
}
