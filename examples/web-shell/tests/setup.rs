//! Start-up: the administrator password comes from the options on every start, a generated
//! one only when there is none, and the demo data is loaded once.

use argon2::password_hash::{PasswordHash, PasswordVerifier};
use argon2::Argon2;
use crm::{Crm, TenantId};
use crm_web_shell::{prepare, Options};

fn admin_hash(crm: &Crm) -> String {
    let tenant = TenantId::new("default").expect("tenant name");
    let admin = crm.bootstrap_tenant(&tenant, "admin", "Administrator").expect("bootstrap");
    crm.org(&admin).user(admin.user).expect("administrator").password_hash
}

fn verifies(password: &str, hash: &str) -> bool {
    let parsed = PasswordHash::new(hash).expect("a PHC string");
    Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok()
}

#[test]
fn password_is_generated_once_and_reset_from_the_options() {
    let dir = tempfile::tempdir().unwrap();
    let crm = Crm::open_location(&format!("sled:{}", dir.path().display())).unwrap();

    let first = prepare(crm.clone(), &Options::default()).unwrap();
    let generated = first.generated_password.expect("a generated password");
    assert_eq!(first.demo_customers, 91);
    assert!(verifies(&generated, &admin_hash(&crm)));

    let again = prepare(crm.clone(), &Options::default()).unwrap();
    assert_eq!(again.generated_password, None);
    assert_eq!(again.demo_customers, 0);
    assert!(verifies(&generated, &admin_hash(&crm)));

    let options = Options { admin_password: Some("reset-me-2026".into()), ..Options::default() };
    let reset = prepare(crm.clone(), &options).unwrap();
    assert_eq!(reset.generated_password, None);
    let hash = admin_hash(&crm);
    assert!(verifies("reset-me-2026", &hash));
    assert!(!verifies(&generated, &hash));

    prepare(crm.clone(), &options).unwrap();
    assert_eq!(admin_hash(&crm), hash, "an unchanged password is not hashed again");
}
