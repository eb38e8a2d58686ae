//! The shared pool (公海) on every store: a plain user finds pool customers beside their own
//! in lists, searches, exports and hierarchies, never another user's private customers, and
//! gets a pool customer through an assignment request rather than by editing it.

use crm::{
    AssignmentStatus, Contact, Crm, Customer, CustomerSearch, CustomerStatus, DomainError, Error,
    Principal, Relative, Role,
};

use super::{contact, customer, fresh_admin, names};

/// An administrator and two salespeople of one tenant.
struct People {
    admin: Principal,
    alice: Principal,
    bob: Principal,
}

fn people(crm: &Crm) -> People {
    let admin = fresh_admin(crm);
    let org = crm.org(&admin);
    let unit = org.units().unwrap()[0].id;
    let alice = org.add_user("alice", "Alice", unit, Role::User).unwrap();
    let bob = org.add_user("bob", "Bob", unit, Role::User).unwrap();
    let alice = org.principal(alice.id).unwrap().unwrap();
    let bob = org.principal(bob.id).unwrap().unwrap();
    People { admin, alice, bob }
}

fn pooled(name: &str) -> Customer {
    Customer { status: CustomerStatus::Pool, ..customer(name) }
}

fn forbidden<T: std::fmt::Debug>(result: crm::Result<T>) -> bool {
    matches!(result, Err(Error::Domain(DomainError::Forbidden(_))))
}

/// A one-step flow the administrator approves.
fn flow(admin: &Principal) -> String {
    format!(
        r#"
name = "pool_request"
title = "Pool request / 公海申请"
form = "customer_assignment"

[[nodes]]
id = "start"
type = "start"

[[nodes]]
id = "admin"
type = "approval"
approvers = [{{ users = [{admin}] }}]

[[nodes]]
id = "end"
type = "end"

[[edges]]
from = "start"
to = "admin"

[[edges]]
from = "admin"
to = "end"
"#,
        admin = admin.user
    )
}

pub fn plain_users_find_pool_customers(crm: &Crm) {
    let p = people(crm);
    let pool =
        crm.customers(&p.admin).create(pooled("Pool Trading 公海"), vec![contact("Wang Wei")]);
    let pool = pool.unwrap();
    let mine = crm.customers(&p.alice).create(customer("Alice's shop"), vec![]).unwrap();
    let theirs = crm.customers(&p.bob).create(customer("Bob's trading shop"), vec![]).unwrap();
    let alice = crm.customers(&p.alice);

    let all = alice.search(&CustomerSearch::default()).unwrap();
    assert_eq!(names(&all), ["Alice's shop", "Pool Trading 公海"]);
    assert_eq!(all.total, 2);
    let searched = alice.search(&CustomerSearch::text("TRADING")).unwrap();
    assert_eq!(names(&searched), ["Pool Trading 公海"], "Bob's trading shop stays hidden");
    let by_contact = alice.search(&CustomerSearch::text("wang")).unwrap();
    assert_eq!(names(&by_contact), ["Pool Trading 公海"]);
    let pool_only = CustomerSearch { status: Some(CustomerStatus::Pool), ..Default::default() };
    assert_eq!(names(&alice.search(&pool_only).unwrap()), ["Pool Trading 公海"]);
    let private = CustomerSearch { status: Some(CustomerStatus::Private), ..Default::default() };
    assert_eq!(names(&alice.search(&private).unwrap()), ["Alice's shop"]);
    let second = CustomerSearch { offset: 1, limit: 1, ..Default::default() };
    let second = alice.search(&second).unwrap();
    assert_eq!((names(&second), second.total), (vec!["Pool Trading 公海".to_owned()], 2));

    assert_eq!(alice.get(pool.id).unwrap().name, "Pool Trading 公海");
    assert!(alice.get(theirs.id).unwrap_err().is_not_found());
    assert_eq!(alice.by_code(&pool.code).unwrap().map(|c| c.id), Some(pool.id));
    assert_eq!(alice.by_code(&theirs.code).unwrap(), None);
    let wang = alice.contacts(pool.id).unwrap();
    assert_eq!(wang.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(), ["Wang Wei"]);
    assert_eq!(alice.contact(wang[0].id).unwrap().customer, pool.id);
    assert_eq!(alice.history(pool.id).unwrap().len(), 1, "the creation");

    let (exported, contacts) = alice.export_rows().unwrap();
    let exported: Vec<_> = exported.iter().map(|c| c.id).collect();
    assert_eq!(exported, [pool.id, mine.id], "by number; the pool customer was numbered first");
    assert_eq!(contacts.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(), ["Wang Wei"]);

    let bob = crm.customers(&p.bob).search(&CustomerSearch::default()).unwrap();
    assert_eq!(names(&bob), ["Bob's trading shop", "Pool Trading 公海"]);
    let admin = crm.customers(&p.admin).search(&CustomerSearch::default()).unwrap();
    assert_eq!(admin.total, 3);
}

pub fn pool_hierarchies_show_visible_members_only(crm: &Crm) {
    let p = people(crm);
    let admin = crm.customers(&p.admin);
    let group = admin.create(pooled("Pool Group"), vec![]).unwrap();
    let branch = admin.create(Customer { parent: Some(group.id), ..pooled("Pool Branch") }, vec![]);
    let branch = branch.unwrap();
    let owned = Customer { parent: Some(group.id), owner: Some(p.bob.user), ..customer("Bob's") };
    let bobs = admin.create(owned, vec![]).unwrap();
    assert_eq!(
        admin.children(group.id).unwrap().iter().map(|c| c.id).collect::<Vec<_>>(),
        [bobs.id, branch.id]
    );

    let alice = crm.customers(&p.alice);
    let children: Vec<_> = alice.children(group.id).unwrap().iter().map(|c| c.id).collect();
    assert_eq!(children, [branch.id]);
    let below: Vec<_> = alice.descendants(group.id).unwrap().iter().map(|c| c.id).collect();
    assert_eq!(below, [branch.id]);
    let above: Vec<_> = alice.ancestors(branch.id).unwrap().iter().map(|c| c.id).collect();
    assert_eq!(above, [group.id]);
    assert!(alice.ancestors(bobs.id).unwrap_err().is_not_found());
    let above: Vec<_> =
        crm.customers(&p.bob).ancestors(bobs.id).unwrap().iter().map(|c| c.id).collect();
    assert_eq!(above, [group.id], "the pool parent of Bob's customer");
}

pub fn pool_customers_are_requested_not_edited(crm: &Crm) {
    let p = people(crm);
    let pool = crm.customers(&p.admin).create(pooled("Pool Ltd"), vec![contact("Li Na")]).unwrap();
    let li = crm.customers(&p.admin).contacts(pool.id).unwrap().remove(0);
    let relative = Relative {
        contact: li.id,
        relation: "spouse".into(),
        name: "Zhang".into(),
        ..Relative::default()
    };
    let relative = crm.customers(&p.admin).add_relative(relative).unwrap();
    let theirs = crm.customers(&p.bob).create(customer("Bob's"), vec![]).unwrap();
    let mine = crm.customers(&p.alice).create(customer("Alice's"), vec![]).unwrap();
    let alice = crm.customers(&p.alice);

    // Seeing a pool customer does not make it Alice's to change, nor to hang things under.
    let renamed = Customer { name: "Mine now".into(), ..pool.clone() };
    assert!(forbidden(alice.update(renamed)));
    let claimed = Customer { status: CustomerStatus::Private, ..pool.clone() };
    assert!(forbidden(alice.update(claimed)));
    assert!(forbidden(alice.delete(pool.id)));
    assert!(forbidden(alice.set_parent(pool.id, Some(mine.id))));
    assert!(forbidden(alice.set_parent(mine.id, Some(pool.id))));
    let child = Customer { parent: Some(pool.id), ..customer("Child") };
    assert!(forbidden(alice.create(child, vec![])));
    let new_contact = Contact { customer: pool.id, ..contact("Sneaky") };
    assert!(forbidden(alice.add_contact(new_contact)));
    assert!(forbidden(alice.update_contact(Contact { name: "Changed".into(), ..li.clone() })));
    assert!(forbidden(alice.delete_contact(li.id)));
    let new_relative =
        Relative { id: Default::default(), name: "Other".into(), ..relative.clone() };
    assert!(forbidden(alice.add_relative(new_relative)));
    assert!(forbidden(alice.update_relative(Relative { name: "X".into(), ..relative.clone() })));
    assert!(forbidden(alice.delete_relative(relative.id)));
    assert_eq!(alice.relative(relative.id).unwrap().name, "Zhang", "reading is allowed");
    assert!(!alice.can_change(&alice.get(pool.id).unwrap()));
    assert!(alice.can_change(&mine));
    assert!(crm.customers(&p.admin).can_change(&pool));
    let stored = crm.customers(&p.admin).get(pool.id).unwrap();
    assert_eq!((stored.name.as_str(), stored.version, stored.owner), ("Pool Ltd", 1, None));
    // Another user's private customer stays invisible to every one of these.
    assert!(alice.update(theirs.clone()).unwrap_err().is_not_found());
    assert!(alice.delete(theirs.id).unwrap_err().is_not_found());

    // The way to a pool customer is a request, approved by the administrator.
    assert!(crm.assignments(&p.alice).request(theirs.id, "").unwrap_err().is_not_found());
    crm.workflows(&p.admin).define(&flow(&p.admin)).unwrap();
    let requested = crm.assignments(&p.alice).request(pool.id, "老客户介绍").unwrap();
    assert_eq!(requested.request.status, AssignmentStatus::Pending);
    crm.workflows(&p.admin).approve(requested.instance, None, "ok").unwrap();
    let assigned = alice.get(pool.id).unwrap();
    assert_eq!((assigned.owner, assigned.status), (Some(p.alice.user), CustomerStatus::Private));
    assert!(alice.can_change(&assigned));
    let renamed = alice.update(Customer { name: "Alice's Pool Ltd".into(), ..assigned }).unwrap();
    assert_eq!(renamed.name, "Alice's Pool Ltd");
    // Now private, it left Bob's view.
    assert!(crm.customers(&p.bob).get(pool.id).unwrap_err().is_not_found());
    let bob = crm.customers(&p.bob).search(&CustomerSearch::default()).unwrap();
    assert_eq!(names(&bob), ["Bob's"]);
}
