//! The organisation as the engine sees it, and approver resolution over it.
//!
//! The host's organisation answers the [`Directory`] questions (who is active, which unit a
//! user belongs to, who manages a unit, who holds a position, who supervises whom); the
//! engine resolves approver rules purely over those answers and writes the result into the
//! event log, so replaying a log never asks the directory again. [`MemoryDirectory`] is a
//! small in-memory organisation for tests, examples and hosts that keep their org elsewhere.

use std::collections::{BTreeMap, BTreeSet};

use crm_domain::RecordId;

use crate::definition::{ApproverRule, PositionLookup};

/// How far resolution walks up a unit hierarchy before it gives up; a corrupt hierarchy
/// with a cycle cannot make it loop.
pub const MAX_UNIT_DEPTH: usize = 64;

/// The organisation questions approver resolution asks. Implementations answer from the
/// host's org data; they should be cheap, as one action may ask several times.
pub trait Directory {
    /// Whether the user exists and may be assigned work.
    fn is_active(&self, user: RecordId) -> bool;
    /// The user's home unit. A request made for another of the submitter's units is
    /// resolved through that unit instead (see [`ForUnit`]).
    fn unit_of(&self, user: RecordId) -> Option<RecordId>;
    /// Every unit the user belongs to: the home unit first, then the units of their
    /// memberships, without duplicates.
    fn units_of(&self, user: RecordId) -> Vec<RecordId> {
        self.unit_of(user).into_iter().collect()
    }
    /// The parent of a unit; `None` for a root.
    fn parent_unit(&self, unit: RecordId) -> Option<RecordId>;
    /// The manager of a unit.
    fn manager_of(&self, unit: RecordId) -> Option<RecordId>;
    /// The holders of a position, in `unit` only or anywhere when `unit` is `None`.
    fn holders_of(&self, position: &str, unit: Option<RecordId>) -> Vec<RecordId>;
    /// The user's supervisor.
    fn supervisor_of(&self, user: RecordId) -> Option<RecordId>;
}

/// A directory in which one user's unit is the unit a request is made for: a user who
/// belongs to several units submits for one of them, and the rules that look at "the
/// submitter's unit" (its manager, positions in it and above) use that unit.
pub struct ForUnit<'d> {
    inner: &'d dyn Directory,
    user: RecordId,
    unit: RecordId,
}

impl<'d> ForUnit<'d> {
    /// `inner`, except that `user` belongs to `unit`.
    pub fn new(inner: &'d dyn Directory, user: RecordId, unit: RecordId) -> Self {
        Self { inner, user, unit }
    }
}

impl Directory for ForUnit<'_> {
    fn is_active(&self, user: RecordId) -> bool {
        self.inner.is_active(user)
    }
    fn unit_of(&self, user: RecordId) -> Option<RecordId> {
        if user == self.user {
            Some(self.unit)
        } else {
            self.inner.unit_of(user)
        }
    }
    fn units_of(&self, user: RecordId) -> Vec<RecordId> {
        self.inner.units_of(user)
    }
    fn parent_unit(&self, unit: RecordId) -> Option<RecordId> {
        self.inner.parent_unit(unit)
    }
    fn manager_of(&self, unit: RecordId) -> Option<RecordId> {
        self.inner.manager_of(unit)
    }
    fn holders_of(&self, position: &str, unit: Option<RecordId>) -> Vec<RecordId> {
        self.inner.holders_of(position, unit)
    }
    fn supervisor_of(&self, user: RecordId) -> Option<RecordId> {
        self.inner.supervisor_of(user)
    }
}

/// The users the rules name for a request of `submitter`, in rule order without duplicates.
/// Inactive users are included; the caller filters them and applies the self-approval rule.
pub fn resolve(
    rules: &[ApproverRule],
    submitter: RecordId,
    directory: &dyn Directory,
) -> Vec<RecordId> {
    let mut out: Vec<RecordId> = Vec::new();
    let mut seen = BTreeSet::new();
    let mut add = |users: Vec<RecordId>| {
        for user in users {
            if seen.insert(user) {
                out.push(user);
            }
        }
    };
    for rule in rules {
        match rule {
            ApproverRule::Users(users) => add(users.clone()),
            ApproverRule::Supervisor => {
                add(directory.supervisor_of(submitter).into_iter().collect())
            }
            ApproverRule::UnitManager(levels) => {
                let mut unit = directory.unit_of(submitter);
                for _ in 0..(*levels).min(MAX_UNIT_DEPTH as u32) {
                    unit = unit.and_then(|u| directory.parent_unit(u));
                }
                add(unit.and_then(|u| directory.manager_of(u)).into_iter().collect());
            }
            ApproverRule::Position { name, lookup } => match lookup {
                PositionLookup::Anywhere => add(directory.holders_of(name, None)),
                PositionLookup::SubmitterUnit => {
                    if let Some(unit) = directory.unit_of(submitter) {
                        add(directory.holders_of(name, Some(unit)));
                    }
                }
                PositionLookup::SubmitterUnitAndAncestors => {
                    let mut unit = directory.unit_of(submitter);
                    let mut steps = 0;
                    while let Some(current) = unit {
                        let holders: Vec<RecordId> = directory
                            .holders_of(name, Some(current))
                            .into_iter()
                            .filter(|u| directory.is_active(*u))
                            .collect();
                        if !holders.is_empty() {
                            add(holders);
                            break;
                        }
                        steps += 1;
                        if steps >= MAX_UNIT_DEPTH {
                            tracing::warn!(
                                unit = %current,
                                "unit hierarchy deeper than the walk limit"
                            );
                            break;
                        }
                        unit = directory.parent_unit(current);
                    }
                }
            },
        }
    }
    out
}

/// One user of a [`MemoryDirectory`].
#[derive(Debug, Clone, PartialEq, Eq)]
struct Member {
    unit: Option<RecordId>,
    active: bool,
    supervisor: Option<RecordId>,
}

/// An organisation kept in memory: units with parents and managers, users with a unit, a
/// supervisor and an active flag, and positions held in units.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemoryDirectory {
    units: BTreeMap<RecordId, (Option<RecordId>, Option<RecordId>)>,
    members: BTreeMap<RecordId, Member>,
    positions: Vec<(String, RecordId, RecordId)>,
    /// (user, unit) of memberships beyond the home unit.
    memberships: Vec<(RecordId, RecordId)>,
}

impl MemoryDirectory {
    /// An empty organisation.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds or replaces a unit with its parent and manager.
    pub fn unit(
        mut self,
        unit: RecordId,
        parent: Option<RecordId>,
        manager: Option<RecordId>,
    ) -> Self {
        self.units.insert(unit, (parent, manager));
        self
    }

    /// Adds or replaces an active user in `unit`.
    pub fn user(mut self, user: RecordId, unit: RecordId) -> Self {
        self.members.insert(user, Member { unit: Some(unit), active: true, supervisor: None });
        self
    }

    /// Sets a user's supervisor.
    pub fn supervisor(mut self, user: RecordId, supervisor: RecordId) -> Self {
        if let Some(member) = self.members.get_mut(&user) {
            member.supervisor = Some(supervisor);
        }
        self
    }

    /// Makes `user` a member of `unit` besides their home unit.
    pub fn member_of(mut self, user: RecordId, unit: RecordId) -> Self {
        self.memberships.push((user, unit));
        self
    }

    /// Lets `user` hold `position` in `unit`.
    pub fn position(mut self, position: &str, user: RecordId, unit: RecordId) -> Self {
        self.positions.push((position.to_owned(), user, unit));
        self
    }

    /// Marks a user as departed (or back).
    pub fn set_active(&mut self, user: RecordId, active: bool) {
        if let Some(member) = self.members.get_mut(&user) {
            member.active = active;
        }
    }
}

impl Directory for MemoryDirectory {
    fn is_active(&self, user: RecordId) -> bool {
        self.members.get(&user).is_some_and(|m| m.active)
    }

    fn unit_of(&self, user: RecordId) -> Option<RecordId> {
        self.members.get(&user).and_then(|m| m.unit)
    }

    fn units_of(&self, user: RecordId) -> Vec<RecordId> {
        let others = self.memberships.iter().filter(|(u, _)| *u == user).map(|(_, unit)| *unit);
        let held = self.positions.iter().filter(|(_, u, _)| *u == user).map(|(_, _, unit)| *unit);
        let mut units: Vec<RecordId> = self.unit_of(user).into_iter().collect();
        for unit in others.chain(held) {
            if !units.contains(&unit) {
                units.push(unit);
            }
        }
        units
    }

    fn parent_unit(&self, unit: RecordId) -> Option<RecordId> {
        self.units.get(&unit).and_then(|(parent, _)| *parent)
    }

    fn manager_of(&self, unit: RecordId) -> Option<RecordId> {
        self.units.get(&unit).and_then(|(_, manager)| *manager)
    }

    fn holders_of(&self, position: &str, unit: Option<RecordId>) -> Vec<RecordId> {
        self.positions
            .iter()
            .filter(|(name, _, at)| name == position && unit.is_none_or(|u| u == *at))
            .map(|(_, user, _)| *user)
            .collect()
    }

    fn supervisor_of(&self, user: RecordId) -> Option<RecordId> {
        self.members.get(&user).and_then(|m| m.supervisor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u64) -> RecordId {
        RecordId(n)
    }

    /// Head office 1 (manager 10) holds branch 2 (manager 20) holds team 3 (manager 30).
    fn org() -> MemoryDirectory {
        MemoryDirectory::new()
            .unit(id(1), None, Some(id(10)))
            .unit(id(2), Some(id(1)), Some(id(20)))
            .unit(id(3), Some(id(2)), Some(id(30)))
            .user(id(10), id(1))
            .user(id(20), id(2))
            .user(id(30), id(3))
            .user(id(31), id(3))
            .user(id(11), id(1))
            .supervisor(id(31), id(30))
            .position("cfo", id(11), id(1))
    }

    #[test]
    fn resolves_each_rule_kind() {
        let org = org();
        let at = |rules: &[ApproverRule]| resolve(rules, id(31), &org);
        assert_eq!(at(&[ApproverRule::Supervisor]), vec![id(30)]);
        assert_eq!(at(&[ApproverRule::UnitManager(0)]), vec![id(30)]);
        assert_eq!(at(&[ApproverRule::UnitManager(2)]), vec![id(10)]);
        assert_eq!(at(&[ApproverRule::UnitManager(9)]), Vec::<RecordId>::new());
        let cfo = |lookup| ApproverRule::Position { name: "cfo".into(), lookup };
        assert_eq!(at(&[cfo(PositionLookup::SubmitterUnit)]), Vec::<RecordId>::new());
        assert_eq!(at(&[cfo(PositionLookup::SubmitterUnitAndAncestors)]), vec![id(11)]);
        assert_eq!(at(&[cfo(PositionLookup::Anywhere)]), vec![id(11)]);
        let both = [ApproverRule::Users(vec![id(30), id(20)]), ApproverRule::Supervisor];
        assert_eq!(at(&both), vec![id(30), id(20)]);
    }

    #[test]
    fn ancestor_lookup_skips_units_whose_holders_departed() {
        let mut org = org().position("cfo", id(20), id(2));
        let rule = [ApproverRule::Position {
            name: "cfo".into(),
            lookup: PositionLookup::SubmitterUnitAndAncestors,
        }];
        assert_eq!(resolve(&rule, id(31), &org), vec![id(20)]);
        org.set_active(id(20), false);
        assert_eq!(resolve(&rule, id(31), &org), vec![id(11)]);
    }
}
