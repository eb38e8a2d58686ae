//! User-defined form scenarios (自定义表单): an administrator defines a leave form at run
//! time, binds an approval flow to it, and its entries go through approval like quotes do,
//! on every store.

use crm::workflow::{Decision, Status};
use crm::{
    ApprovalStatus, Crm, DomainError, EntryDraft, EntryFilter, Error, FormDef, FormDraft,
    Principal, RecordId, Value,
};
use rust_decimal::Decimal;

use super::sales::{field_of, setup, todo_records, trail};

const LEAVE: &str = r#"
key = "leave"
name_zh = "请假单"
name_en = "Leave request"

[[fields]]
name = "days"
label_zh = "天数"
label_en = "Days"
kind = "decimal"
required = true

[[fields]]
name = "kind"
label_zh = "假别"
kind = "choice"
choices = ["年假", "病假", "事假"]

[[fields]]
name = "first_day"
label_zh = "开始日期"
kind = "date"

[[fields]]
name = "reason"
label_zh = "事由"
kind = "textarea"
"#;

/// The unit manager approves and may change the days and the reason; above three days
/// every sales director approves as well.
fn flow(form: RecordId, editable: &str, fallback: RecordId) -> String {
    format!(
        r#"
name = "leave_approval"
form = {{ custom = {form} }}
fallback_approver = {fallback}

[[nodes]]
id = "start"
type = "start"

[[nodes]]
id = "manager"
type = "approval"
approvers = [{{ unit_manager = 0 }}]
visible_fields = ["title", "days", "kind", "first_day", "reason"]
editable_fields = [{editable}]

[[nodes]]
id = "long"
type = "gateway"

[[nodes]]
id = "director"
type = "approval"
approvers = [{{ position = {{ name = "sales_director", lookup = "anywhere" }} }}]

[[nodes]]
id = "end"
type = "end"

[[edges]]
from = "start"
to = "manager"

[[edges]]
from = "manager"
to = "long"

[[edges]]
from = "long"
to = "director"
when = "days > 3"

[[edges]]
from = "long"
to = "end"

[[edges]]
from = "director"
to = "end"
"#
    )
}

fn define_leave(crm: &Crm, admin: &Principal) -> FormDef {
    crm.forms(admin).define(FormDraft::from_toml(LEAVE).unwrap()).unwrap()
}

fn typed(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn entry(crm: &Crm, who: &Principal, form: &FormDef, pairs: &[(&str, &str)]) -> EntryDraft {
    let values = crm.form_entries(who).parse_values(form, &typed(pairs)).unwrap();
    EntryDraft { title: "年假申请".into(), values }
}

pub fn a_user_defined_form_is_filled_in_and_approved(crm: &Crm) {
    let s = setup(crm);
    let form = define_leave(crm, &s.admin);
    assert_eq!((form.key.as_str(), form.fields.len()), ("leave", 4));
    crm.workflows(&s.admin).define(&flow(form.id, r#""days", "reason""#, s.admin.user)).unwrap();

    // Two days, typed as text the way a person types them.
    let entries = crm.form_entries(&s.seller);
    let draft =
        entry(crm, &s.seller, &form, &[("days", "2"), ("kind", "年假"), ("first_day", "2027/1/4")]);
    let written = entries.create(form.id, draft).unwrap();
    assert_eq!((written.code.as_str(), written.status), ("FM000001", ApprovalStatus::Draft));
    assert_eq!(written.values.get("days"), Some(&Value::Decimal(Decimal::TWO)));
    assert_eq!(
        written.values.get("first_day"),
        Some(&Value::Date(chrono::NaiveDate::from_ymd_opt(2027, 1, 4).unwrap()))
    );
    assert!(!written.values.contains_key("reason"));

    let instance = entries.submit(written.id, 1, None).unwrap().instance.unwrap();
    assert_eq!(todo_records(crm, &s.manager), vec![written.id]);
    let manager = crm.workflows(&s.manager);
    let seen = manager.instance(instance).unwrap().state.fields;
    assert_eq!(seen.get("kind"), Some(&Value::Text("年假".into())));

    // The manager makes it five days with a reason: now the director decides too, because
    // the condition reads the changed value.
    let refused = manager.parse_changes(instance, &typed(&[("kind", "病假")])).unwrap_err();
    assert_eq!(field_of(&refused), Some("kind"));
    let changes = manager
        .parse_changes(instance, &typed(&[("days", "5"), ("reason", "含春节调休")]))
        .unwrap();
    let outcome =
        manager.decide(instance, None, Decision::ApproveWithChanges(changes), "按五天批", None);
    assert_eq!(outcome.unwrap().status, Status::Pending);
    let changed = entries.get(written.id).unwrap();
    assert_eq!(changed.values.get("days"), Some(&Value::Decimal(Decimal::new(5, 0))));
    assert_eq!(changed.values.get("reason"), Some(&Value::Text("含春节调休".into())));
    assert_eq!(todo_records(crm, &s.director), vec![written.id]);

    crm.workflows(&s.director).approve(instance, None, "同意").unwrap();
    let approved = entries.get(written.id).unwrap();
    assert_eq!(approved.status, ApprovalStatus::Approved);
    let edit = entries.update(written.id, approved.version, entry(crm, &s.seller, &form, &[]));
    assert!(matches!(edit.unwrap_err(), Error::Domain(DomainError::State(_))));
    // Created, pending, days and reason changed, approved.
    assert_eq!(trail(crm, &s.admin, "form_entry", written.id), 4);

    // An approver's change the form refuses is refused before anything is stored.
    let short = entries.create(form.id, entry(crm, &s.seller, &form, &[("days", "1")])).unwrap();
    let instance = entries.submit(short.id, 1, None).unwrap().instance.unwrap();
    let emptied = manager.parse_changes(instance, &typed(&[("days", "")])).unwrap();
    let refused = manager.decide(instance, None, Decision::ApproveWithChanges(emptied), "", None);
    assert_eq!(field_of(&refused.unwrap_err()), Some("days"));
    assert_eq!(entries.get(short.id).unwrap().status, ApprovalStatus::Pending);
    // One day needs the manager only.
    manager.approve(instance, None, "").unwrap();
    assert_eq!(entries.get(short.id).unwrap().status, ApprovalStatus::Approved);
    assert_eq!(todo_records(crm, &s.director), Vec::<RecordId>::new());

    let mine = EntryFilter { form: Some(form.id), ..EntryFilter::default() };
    assert_eq!(entries.list(&mine).unwrap().total, 2);
    let approved_only = EntryFilter { status: Some(ApprovalStatus::Approved), ..mine };
    assert_eq!(crm.form_entries(&s.admin).list(&approved_only).unwrap().total, 2);
    assert_eq!(crm.form_entries(&s.other).list(&EntryFilter::default()).unwrap().total, 0);
}

pub fn a_rejected_form_entry_is_changed_and_submitted_again(crm: &Crm) {
    let s = setup(crm);
    let form = define_leave(crm, &s.admin);
    crm.workflows(&s.admin).define(&flow(form.id, r#""reason""#, s.admin.user)).unwrap();
    let entries = crm.form_entries(&s.seller);
    let written =
        entries.create(form.id, entry(crm, &s.seller, &form, &[("days", "4"), ("kind", "事假")]));
    let written = written.unwrap();
    let instance = entries.submit(written.id, 1, None).unwrap().instance.unwrap();
    crm.workflows(&s.manager).reject(instance, None, "请写明事由").unwrap();
    let rejected = entries.get(written.id).unwrap();
    assert_eq!(rejected.status, ApprovalStatus::Rejected);

    // The seller shortens it and gives a reason; the new round reads the new values, so
    // three days end with the manager.
    let again =
        entry(crm, &s.seller, &form, &[("days", "3"), ("kind", "事假"), ("reason", "家中有事")]);
    let changed = entries.update(written.id, rejected.version, again).unwrap();
    assert_eq!(changed.values.get("reason"), Some(&Value::Text("家中有事".into())));
    let resubmitted = entries.submit(written.id, changed.version, None).unwrap();
    assert_eq!(
        (resubmitted.status, resubmitted.instance),
        (ApprovalStatus::Pending, Some(instance))
    );
    let fields = crm.workflows(&s.manager).instance(instance).unwrap().state.fields;
    assert_eq!(fields.get("days"), Some(&Value::Decimal(Decimal::new(3, 0))));
    crm.workflows(&s.manager).approve(instance, None, "同意").unwrap();
    assert_eq!(entries.get(written.id).unwrap().status, ApprovalStatus::Approved);
    assert!(todo_records(crm, &s.director).is_empty());
}

pub fn forms_and_their_entries_are_checked(crm: &Crm) {
    let s = setup(crm);
    let draft = FormDraft::from_toml(LEAVE).unwrap();
    // Only administrators define forms; keys are unique.
    let refused = crm.forms(&s.seller).define(draft.clone()).unwrap_err();
    assert!(matches!(refused, Error::Domain(DomainError::Forbidden(_))), "{refused:?}");
    let form = define_leave(crm, &s.admin);
    assert_eq!(field_of(&crm.forms(&s.admin).define(draft.clone()).unwrap_err()), Some("key"));
    let bad_toml = FormDraft::from_toml("key = \"x\"\n[[fields]]\nname = 3\n").unwrap_err();
    assert!(bad_toml.to_string().contains("line 3"), "{bad_toml}");
    assert_eq!(crm.forms(&s.seller).by_key("leave").unwrap().id, form.id);

    // Flows must fit the form: a condition on a field it lacks, approvers changing a field
    // it lacks or the entry's owner, a form that does not exist.
    let defining = |text: String| crm.workflows(&s.admin).define(&text);
    let wrong_field = flow(form.id, r#""days""#, s.admin.user).replace("days > 3", "hours > 3");
    assert!(defining(wrong_field).is_err());
    let refused = defining(flow(form.id, r#""owner""#, s.admin.user)).unwrap_err();
    assert_eq!(field_of(&refused), Some("editable_fields"), "{refused:?}");
    let refused = defining(flow(RecordId(9_999), r#""days""#, s.admin.user)).unwrap_err();
    assert_eq!(field_of(&refused), Some("form"), "{refused:?}");
    defining(flow(form.id, r#""days""#, s.admin.user)).unwrap();

    // Entries are checked field by field, and nothing is stored when one is refused.
    let entries = crm.form_entries(&s.seller);
    let parse = |pairs: &[(&str, &str)]| entries.parse_values(&form, &typed(pairs));
    assert_eq!(field_of(&parse(&[("days", "two")]).unwrap_err()), Some("days"));
    assert_eq!(field_of(&parse(&[("colour", "red")]).unwrap_err()), Some("colour"));
    let missing = entries.create(form.id, entry(crm, &s.seller, &form, &[("kind", "年假")]));
    assert_eq!(field_of(&missing.unwrap_err()), Some("days"));
    let choice =
        entries.create(form.id, entry(crm, &s.seller, &form, &[("days", "1"), ("kind", "婚假")]));
    assert_eq!(field_of(&choice.unwrap_err()), Some("kind"));
    let untitled =
        EntryDraft { title: " ".into(), ..entry(crm, &s.seller, &form, &[("days", "1")]) };
    assert_eq!(field_of(&entries.create(form.id, untitled).unwrap_err()), Some("title"));
    assert_eq!(entries.list(&EntryFilter::default()).unwrap().total, 0);

    // An entry is its owner's: others do not see it, and only the owner changes it.
    let written = entries.create(form.id, entry(crm, &s.seller, &form, &[("days", "1")])).unwrap();
    assert_eq!(written.code, "FM000001");
    assert!(crm.form_entries(&s.other).get(written.id).unwrap_err().is_not_found());
    let by_admin = crm.form_entries(&s.admin).update(
        written.id,
        1,
        entry(crm, &s.admin, &form, &[("days", "2")]),
    );
    assert!(matches!(by_admin.unwrap_err(), Error::Domain(DomainError::Forbidden(_))));

    // The form changes without misreading entries: no new kind for a field, no dropped
    // choice, no removing a field the bound flow's condition reads; relabelling, new
    // fields and new choices are fine.
    let forms = crm.forms(&s.admin);
    let mut retyped = draft.clone();
    retyped.fields[0].kind = crm::FormFieldKind::Integer;
    assert_eq!(field_of(&forms.update(form.id, 1, retyped).unwrap_err()), Some("fields.days.kind"));
    let mut without_days = draft.clone();
    without_days.fields.remove(0);
    let refused = forms.update(form.id, 1, without_days).unwrap_err();
    assert!(refused.to_string().contains("leave_approval"), "{refused}");
    let mut grown = draft.clone();
    grown.fields[1].choices.push("婚假".into());
    grown.fields.push(crm::FormFieldDef {
        name: "handover".into(),
        label_zh: "工作交接人".into(),
        ..crm::FormFieldDef::default()
    });
    let grown = forms.update(form.id, 1, grown).unwrap();
    assert_eq!((grown.version, grown.fields.len()), (2, 5));
    // A field no flow reads may go again.
    let mut shrunk = draft.clone();
    shrunk.fields[1].choices.push("婚假".into());
    let shrunk = forms.update(form.id, 2, shrunk).unwrap();
    assert_eq!((shrunk.version, shrunk.fields.len()), (3, 4));
    let stale = forms.retire(form.id, 1, true).unwrap_err();
    assert!(stale.is_conflict(), "{stale:?}");

    // Retired, it takes no new entries and leaves the list; its entries stay.
    forms.retire(form.id, 3, true).unwrap();
    let refused = entries.create(form.id, entry(crm, &s.seller, &grown, &[("days", "1")]));
    assert!(matches!(refused.unwrap_err(), Error::Domain(DomainError::State(_))));
    assert!(crm.forms(&s.seller).list(false).unwrap().is_empty());
    assert_eq!(crm.forms(&s.admin).list(true).unwrap().len(), 1);
    assert_eq!(entries.get(written.id).unwrap().values.len(), 1);
}

pub fn a_form_changes_under_entries_without_stranding_them(crm: &Crm) {
    let s = setup(crm);
    let form = define_leave(crm, &s.admin);
    // Approvers see every field; the flow names only the days.
    let visible = r#"visible_fields = ["title", "days", "kind", "first_day", "reason"]"#;
    let every_field = flow(form.id, r#""days""#, s.admin.user).replace(visible, "");
    crm.workflows(&s.admin).define(&every_field).unwrap();
    let entries = crm.form_entries(&s.seller);
    let pending = entries.create(form.id, entry(crm, &s.seller, &form, &[("days", "1")])).unwrap();
    let instance = entries.submit(pending.id, 1, None).unwrap().instance.unwrap();
    let draft = entries.create(form.id, entry(crm, &s.seller, &form, &[("days", "2")])).unwrap();

    // The form now requires the first day. The pending entry lacks it and still goes
    // through its approval, approvers' changes included; the draft must give it first.
    let forms = crm.forms(&s.admin);
    let mut stricter = FormDraft::from_toml(LEAVE).unwrap();
    stricter.fields[2].required = true;
    let stricter = forms.update(form.id, 1, stricter).unwrap();
    let manager = crm.workflows(&s.manager);
    let changes = manager.parse_changes(instance, &typed(&[("days", "1.5")])).unwrap();
    manager.decide(instance, None, Decision::ApproveWithChanges(changes), "", None).unwrap();
    let approved = entries.get(pending.id).unwrap();
    assert_eq!(approved.status, ApprovalStatus::Approved);
    assert_eq!(approved.values.get("days"), Some(&Value::Decimal(Decimal::new(15, 1))));
    let refused = entries.submit(draft.id, 1, None).unwrap_err();
    assert_eq!(field_of(&refused), Some("first_day"), "{refused:?}");
    assert_eq!(entries.get(draft.id).unwrap().status, ApprovalStatus::Draft);
    // Once decided, a change says the task is gone rather than naming a field.
    let late = manager.parse_changes(instance, &typed(&[("days", "2")])).unwrap();
    let no_task = manager.decide(instance, None, Decision::ApproveWithChanges(late), "", None);
    assert!(no_task.unwrap_err().to_string().contains("no open task"));

    // A field removed and added again keeps its kind: entries may still hold its values.
    let mut without_kind = FormDraft::from_toml(LEAVE).unwrap();
    without_kind.fields[2].required = true;
    without_kind.fields.remove(1);
    let without_kind = forms.update(form.id, stricter.version, without_kind).unwrap();
    assert_eq!(without_kind.removed_fields.len(), 1);
    let mut retyped = FormDraft::from_toml(LEAVE).unwrap();
    retyped.fields[1].kind = crm::FormFieldKind::Integer;
    retyped.fields[1].choices.clear();
    let refused = forms.update(form.id, without_kind.version, retyped).unwrap_err();
    assert_eq!(field_of(&refused), Some("fields.kind.kind"), "{refused:?}");

    // Words of the condition language are no field names.
    let mut keyword = FormDraft::from_toml(LEAVE).unwrap();
    keyword.key = "other".into();
    keyword.fields[3].name = "null".into();
    let refused = forms.define(keyword).unwrap_err();
    assert!(refused.to_string().contains("\"null\""), "{refused}");

    // A retired form's drafts are not submitted.
    forms.retire(form.id, without_kind.version, true).unwrap();
    let filled = EntryDraft {
        title: "年假申请".into(),
        values: crm
            .form_entries(&s.seller)
            .parse_values(&stricter, &typed(&[("days", "2"), ("first_day", "2027-03-01")]))
            .unwrap(),
    };
    let draft = entries.update(draft.id, 1, filled).unwrap();
    let refused = entries.submit(draft.id, draft.version, None).unwrap_err();
    assert!(matches!(refused, Error::Domain(DomainError::State(_))), "{refused:?}");
}
