//! Finance requests (财务申请): expense (费用), reimbursement (报销) and loan (借款)
//! requests an employee writes and approvers decide through the workflow bound to the
//! request's form.
//!
//! A request is written as a draft, submitted (pending), and then approved, rejected or
//! withdrawn as its approval goes; a rejected or withdrawn request may be edited and submitted
//! again. Only drafts may be deleted.

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::sync::LazyLock;

use super::approval::approval_fields;
use super::{
    cents, currency, default_currency, known, one_line_title, plausible_date, positive_amount,
    text, trim_all, ApprovalStatus,
};
use crate::entity::{Entity, EntityDesc, FieldDesc, FieldType as T};
use crate::error::DomainError;
use crate::ids::RecordId;

/// Which of the three finance forms a request is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestForm {
    /// An expense request (费用申请): approval to spend before spending.
    #[default]
    Expense,
    /// A reimbursement request (报销): paying back what an employee spent.
    Reimbursement,
    /// A loan request (借款): an advance the employee repays by a date.
    Loan,
}

impl RequestForm {
    /// Every form, in menu order.
    pub const ALL: [RequestForm; 3] =
        [RequestForm::Expense, RequestForm::Reimbursement, RequestForm::Loan];

    /// The stored name, which is also the workflow form binding's key.
    pub fn as_str(self) -> &'static str {
        match self {
            RequestForm::Expense => "expense",
            RequestForm::Reimbursement => "reimbursement",
            RequestForm::Loan => "loan",
        }
    }

    /// Reads a stored name back.
    pub fn parse(name: &str) -> Option<Self> {
        RequestForm::ALL.into_iter().find(|f| f.as_str() == name.trim())
    }

    /// The prefix of the form's document numbers (`EX000001`, `RB…`, `LN…`).
    pub fn code_prefix(self) -> &'static str {
        match self {
            RequestForm::Expense => "EX",
            RequestForm::Reimbursement => "RB",
            RequestForm::Loan => "LN",
        }
    }

    /// The form's name in Chinese.
    pub fn label_zh(self) -> &'static str {
        match self {
            RequestForm::Expense => "费用申请",
            RequestForm::Reimbursement => "报销申请",
            RequestForm::Loan => "借款申请",
        }
    }

    /// The form's name in English.
    pub fn label_en(self) -> &'static str {
        match self {
            RequestForm::Expense => "Expense request",
            RequestForm::Reimbursement => "Reimbursement",
            RequestForm::Loan => "Loan request",
        }
    }
}

impl std::fmt::Display for RequestForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The largest amount a request may ask for.
pub const MAX_AMOUNT: Decimal = Decimal::from_parts(1_000_000_000, 0, 0, false, 0);

/// An expense, reimbursement or loan request.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FinanceRequest {
    /// Record id.
    pub id: RecordId,
    /// Stored version.
    #[serde(default)]
    pub version: u64,
    /// Which form this is.
    pub form: RequestForm,
    /// Document number, given on creation (`EX000001`).
    #[serde(default)]
    pub code: String,
    /// The employee who asks (and who is paid or repays).
    pub applicant: RecordId,
    /// A one-line subject.
    pub title: String,
    /// The amount asked for, in `currency`; positive, at most two decimals.
    pub amount: Decimal,
    /// ISO currency code, `CNY` unless given.
    #[serde(default)]
    pub currency: String,
    /// The kind of cost (travel, hospitality, …), free text.
    #[serde(default)]
    pub category: String,
    /// What the money is for.
    #[serde(default)]
    pub purpose: String,
    /// When the cost arises or arose.
    #[serde(default)]
    pub spent_on: Option<NaiveDate>,
    /// When a loan is to be repaid; required for loans, unused otherwise.
    #[serde(default)]
    pub repay_by: Option<NaiveDate>,
    /// The customer the cost is for, if any.
    #[serde(default)]
    pub customer: Option<RecordId>,
    /// Where the request stands; follows its approval.
    #[serde(default)]
    pub status: ApprovalStatus,
    /// The approval instance, once submitted.
    #[serde(default)]
    pub instance: Option<RecordId>,
    /// Created at (UTC).
    pub created_at: DateTime<Utc>,
    /// Last changed at (UTC).
    pub updated_at: DateTime<Utc>,
}

static FINANCE_REQUEST: LazyLock<EntityDesc> = LazyLock::new(|| {
    EntityDesc::new(
        "finance_request",
        vec![
            FieldDesc::new("form", T::Text, "Form", "单据类型").indexed(),
            FieldDesc::new("code", T::Text, "Number", "单号").indexed().sortable(),
            FieldDesc::new("applicant", T::Ref, "Applicant", "申请人").indexed(),
            FieldDesc::new("title", T::Text, "Title", "标题").sortable(),
            FieldDesc::new("amount", T::Decimal, "Amount", "金额").sortable(),
            FieldDesc::new("currency", T::Text, "Currency", "币种"),
            FieldDesc::new("category", T::Text, "Category", "费用类别").sortable(),
            FieldDesc::new("purpose", T::Text, "Purpose", "用途"),
            FieldDesc::new("spent_on", T::Date, "Date", "发生日期").sortable(),
            FieldDesc::new("repay_by", T::Date, "Repay by", "还款日期").sortable(),
            FieldDesc::new("customer", T::Ref, "Customer", "客户").indexed(),
        ]
        .into_iter()
        .chain(approval_fields())
        .collect(),
    )
    .expect("finance request description is valid")
});

impl Entity for FinanceRequest {
    fn desc() -> &'static EntityDesc {
        &FINANCE_REQUEST
    }
    fn id(&self) -> RecordId {
        self.id
    }
}

impl FinanceRequest {
    /// Trims the text a person typed, fills the default currency and checks every field.
    pub fn normalize(&mut self) -> Result<(), DomainError> {
        trim_all([&mut self.title, &mut self.category, &mut self.purpose, &mut self.currency]);
        default_currency(&mut self.currency);
        self.validate()?;
        self.amount = cents(self.amount);
        Ok(())
    }

    /// Checks the fields a person typed.
    pub fn validate(&self) -> Result<(), DomainError> {
        one_line_title(&self.title)?;
        text("category", &self.category, 100)?;
        text("purpose", &self.purpose, 2000)?;
        known("applicant", self.applicant)?;
        positive_amount("amount", self.amount)?;
        currency("currency", &self.currency)?;
        plausible_date("spent_on", self.spent_on)?;
        plausible_date("repay_by", self.repay_by)?;
        match (self.form, self.repay_by) {
            (RequestForm::Loan, None) => Err(DomainError::Required { field: "repay_by".into() }),
            (RequestForm::Loan, Some(repay)) if self.spent_on.is_some_and(|s| repay < s) => {
                Err(DomainError::invalid("repay_by", "is before the loan's date"))
            }
            (RequestForm::Expense | RequestForm::Reimbursement, Some(_)) => {
                Err(DomainError::invalid("repay_by", "only loans have a repayment date"))
            }
            _ => Ok(()),
        }
    }

    /// Whether the applicant may still change (or submit) the request: as a draft, or after
    /// it was rejected or withdrawn.
    pub fn is_editable(&self) -> bool {
        self.status.is_editable()
    }
}

/// Reads an amount as typed: digits with an optional decimal point, optionally with commas
/// between groups of three digits (`1,200.50`); full-width digits count as digits. A sign is
/// passed on for the rules to judge. `None` when the text is not a number.
pub fn parse_amount(text: &str) -> Option<Decimal> {
    let text: String = text
        .trim()
        .chars()
        .map(|c| match c {
            '０'..='９' => {
                char::from_u32(u32::from(c) - u32::from('０') + u32::from('0')).unwrap_or(c)
            }
            '．' => '.',
            '，' => ',',
            other => other,
        })
        .collect();
    let (sign, unsigned) = match text.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", text.strip_prefix('+').unwrap_or(&text)),
    };
    let (whole, fraction) = match unsigned.split_once('.') {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (unsigned, None),
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let whole_ok = if whole.contains(',') {
        let mut groups = whole.split(',');
        let first = groups.next().unwrap_or_default();
        digits(first) && first.len() <= 3 && groups.all(|g| g.len() == 3 && digits(g))
    } else {
        digits(whole)
    };
    if !whole_ok || fraction.is_some_and(|f| !digits(f)) {
        return None;
    }
    let plain = match fraction {
        Some(fraction) => format!("{sign}{}.{fraction}", whole.replace(',', "")),
        None => format!("{sign}{}", whole.replace(',', "")),
    };
    // Exact: more digits than a decimal holds are refused, not rounded away.
    Decimal::from_str_exact(&plain).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loan() -> FinanceRequest {
        FinanceRequest {
            id: RecordId(3),
            version: 1,
            form: RequestForm::Loan,
            code: "LN000001".into(),
            applicant: RecordId(7),
            title: " 出差借款 ".into(),
            amount: Decimal::new(350_050, 2),
            currency: "cny".into(),
            category: "差旅".into(),
            purpose: "上海客户拜访".into(),
            spent_on: NaiveDate::from_ymd_opt(2026, 12, 1),
            repay_by: NaiveDate::from_ymd_opt(2026, 12, 31),
            customer: Some(RecordId(12)),
            status: ApprovalStatus::Pending,
            instance: Some(RecordId(40)),
            created_at: DateTime::from_timestamp(1_700_000_000, 0).unwrap_or_default(),
            updated_at: DateTime::from_timestamp(1_700_000_100, 0).unwrap_or_default(),
        }
    }

    #[test]
    fn record_round_trip_keeps_every_field() {
        let mut request = loan();
        request.normalize().unwrap();
        assert_eq!((request.title.as_str(), request.currency.as_str()), ("出差借款", "CNY"));
        let record = request.to_record().unwrap();
        assert_eq!(record.get("form").as_text(), Some("loan"));
        assert_eq!(record.get("status").as_text(), Some("pending"));
        assert_eq!(record.get("amount").display(), "3500.50");
        let mut whole = FinanceRequest { amount: Decimal::new(1_200, 1), ..loan() };
        whole.normalize().unwrap();
        assert_eq!(whole.amount.to_string(), "120.00");
        assert_eq!(FinanceRequest::from_record(&record).unwrap(), request);
    }

    #[test]
    fn bad_fields_name_the_field() {
        let field_of = |request: FinanceRequest| match request.validate() {
            Err(DomainError::Required { field }) | Err(DomainError::Invalid { field, .. }) => field,
            other => panic!("expected a field error, got {other:?}"),
        };
        let ok = || {
            let mut request = loan();
            request.normalize().unwrap();
            request
        };
        assert!(ok().validate().is_ok());
        assert_eq!(field_of(FinanceRequest { title: "  ".into(), ..ok() }), "title");
        assert_eq!(field_of(FinanceRequest { amount: Decimal::ZERO, ..ok() }), "amount");
        assert_eq!(field_of(FinanceRequest { amount: Decimal::new(-5, 0), ..ok() }), "amount");
        assert_eq!(field_of(FinanceRequest { amount: Decimal::new(1_001, 3), ..ok() }), "amount");
        assert_eq!(
            field_of(FinanceRequest { amount: MAX_AMOUNT + Decimal::ONE, ..ok() }),
            "amount"
        );
        assert_eq!(field_of(FinanceRequest { currency: "元".into(), ..ok() }), "currency");
        assert_eq!(field_of(FinanceRequest { repay_by: None, ..ok() }), "repay_by");
        let early = NaiveDate::from_ymd_opt(2026, 11, 1);
        assert_eq!(field_of(FinanceRequest { repay_by: early, ..ok() }), "repay_by");
        let expense = FinanceRequest { form: RequestForm::Expense, ..ok() };
        assert_eq!(field_of(expense), "repay_by");
        assert_eq!(field_of(FinanceRequest { purpose: "a\u{1b}b".into(), ..ok() }), "purpose");
        assert_eq!(field_of(FinanceRequest { title: "a\rb".into(), ..ok() }), "title");
        assert_eq!(field_of(FinanceRequest { applicant: RecordId(0), ..ok() }), "applicant");
        // Trailing zeros are not decimals a person typed.
        assert!(FinanceRequest { amount: Decimal::new(12_000, 3), ..ok() }.validate().is_ok());
    }

    #[test]
    fn forms_read_back_and_only_open_requests_are_editable() {
        for form in RequestForm::ALL {
            assert_eq!(RequestForm::parse(form.as_str()), Some(form));
        }
        assert_eq!(RequestForm::parse("quote"), None);
        let mut request = loan();
        assert!(!request.is_editable());
        request.status = ApprovalStatus::Rejected;
        assert!(request.is_editable());
        request.status = ApprovalStatus::Approved;
        assert!(!request.is_editable());
    }

    #[test]
    fn amounts_are_read_as_typed_or_refused() {
        let read = |text: &str| parse_amount(text).map(|d| d.to_string());
        assert_eq!(read("1200").as_deref(), Some("1200"));
        assert_eq!(read(" 1,200.50 ").as_deref(), Some("1200.50"));
        assert_eq!(read("12,345,678").as_deref(), Some("12345678"));
        assert_eq!(read("０.５０").as_deref(), Some("0.50"));
        assert_eq!(read("１，２００．５０").as_deref(), Some("1200.50"));
        assert_eq!(read("-5").as_deref(), Some("-5"));
        for bad in [
            "12,5x",
            "12,5",
            "1,2345",
            "abc",
            "1.2.3",
            ".5",
            "5.",
            "1e3",
            "",
            "1_000",
            "1.0000000000000000000000000000001",
        ] {
            assert_eq!(read(bad), None, "{bad:?}");
        }
    }
}
