//! Sales documents that go through approval: quotes (报价单) and contracts (合同).
//!
//! Both belong to a customer and to the salesperson who owns them, carry a document number
//! (`QT000001`, `CT000001`), and follow their approval like finance requests do: draft →
//! pending → approved / rejected / withdrawn; a rejected or withdrawn document may be changed
//! and submitted again, and only drafts may be deleted. A quote's total is worked out from
//! its lines, so approval conditions can compare `total`; a contract's `amount` is typed.

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::sync::LazyLock;

use super::approval::approval_fields;
use super::finance::MAX_AMOUNT;
use super::{
    cents, currency, default_currency, known, one_line_title, plausible_date, positive_amount,
    required, text, trim_all, ApprovalStatus,
};
use crate::entity::{Entity, EntityDesc, FieldDesc, FieldType as T};
use crate::error::DomainError;
use crate::ids::RecordId;

/// The most lines a quote holds.
pub const MAX_QUOTE_LINES: usize = 200;

/// One line of a quote: what is offered, how many, at what price and discount.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct QuoteLine {
    /// The product or service, as the customer reads it.
    pub product: String,
    /// How many; positive, at most four decimals.
    pub quantity: Decimal,
    /// Price of one, before the discount; not negative, at most two decimals.
    pub unit_price: Decimal,
    /// Discount in percent (0 to 100).
    #[serde(default)]
    pub discount: Decimal,
}

impl QuoteLine {
    /// The line's amount: quantity × unit price less the discount, rounded to cents.
    pub fn amount(&self) -> Decimal {
        let gross = self.quantity * self.unit_price;
        cents((gross - gross * self.discount / Decimal::ONE_HUNDRED).round_dp(2))
    }

    fn validate(&self, line: usize) -> Result<(), DomainError> {
        let field = |name: &str| format!("lines[{line}].{name}");
        required(&field("product"), &self.product)?;
        text(&field("product"), &self.product, 200)?;
        if self.product.contains(['\n', '\r']) {
            return Err(DomainError::invalid(field("product"), "must be one line"));
        }
        if self.quantity <= Decimal::ZERO || self.quantity > MAX_AMOUNT {
            return Err(DomainError::invalid(
                field("quantity"),
                format!("must be greater than zero and at most {MAX_AMOUNT}"),
            ));
        }
        if self.quantity.normalize().scale() > 4 {
            return Err(DomainError::invalid(field("quantity"), "has more than four decimals"));
        }
        if self.unit_price < Decimal::ZERO || self.unit_price > MAX_AMOUNT {
            return Err(DomainError::invalid(
                field("unit_price"),
                format!("must be between 0 and {MAX_AMOUNT}"),
            ));
        }
        if self.unit_price.normalize().scale() > 2 {
            return Err(DomainError::invalid(field("unit_price"), "has more than two decimals"));
        }
        if self.discount < Decimal::ZERO || self.discount > Decimal::ONE_HUNDRED {
            return Err(DomainError::invalid(field("discount"), "must be between 0 and 100"));
        }
        if self.discount.normalize().scale() > 2 {
            return Err(DomainError::invalid(field("discount"), "has more than two decimals"));
        }
        Ok(())
    }
}

/// A quote (报价单) offered to a customer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Quote {
    /// Record id.
    pub id: RecordId,
    /// Stored version.
    #[serde(default)]
    pub version: u64,
    /// Document number, given on creation (`QT000001`).
    #[serde(default)]
    pub code: String,
    /// The customer the quote is for.
    pub customer: RecordId,
    /// The salesperson who wrote it and submits it.
    pub owner: RecordId,
    /// A one-line subject.
    pub title: String,
    /// ISO currency code, `CNY` unless given.
    #[serde(default)]
    pub currency: String,
    /// The last day the offer holds.
    #[serde(default)]
    pub valid_until: Option<NaiveDate>,
    /// What is offered.
    #[serde(default)]
    pub lines: Vec<QuoteLine>,
    /// The sum of the lines' amounts; worked out, never typed.
    #[serde(default)]
    pub total: Decimal,
    /// Terms, delivery, anything else.
    #[serde(default)]
    pub remarks: String,
    /// Where the quote stands; follows its approval.
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

static QUOTE: LazyLock<EntityDesc> = LazyLock::new(|| {
    EntityDesc::new(
        "quote",
        vec![
            FieldDesc::new("code", T::Text, "Number", "单号").indexed().sortable(),
            FieldDesc::new("customer", T::Ref, "Customer", "客户").indexed(),
            FieldDesc::new("owner", T::Ref, "Owner", "负责人").indexed(),
            FieldDesc::new("title", T::Text, "Title", "标题").sortable(),
            FieldDesc::new("currency", T::Text, "Currency", "币种"),
            FieldDesc::new("valid_until", T::Date, "Valid until", "有效期至").sortable(),
            FieldDesc::new("lines", T::Json, "Lines", "报价明细"),
            FieldDesc::new("total", T::Decimal, "Total", "总金额").sortable(),
            FieldDesc::new("remarks", T::Text, "Remarks", "备注"),
        ]
        .into_iter()
        .chain(approval_fields())
        .collect(),
    )
    .expect("quote description is valid")
});

impl Entity for Quote {
    fn desc() -> &'static EntityDesc {
        &QUOTE
    }
    fn id(&self) -> RecordId {
        self.id
    }
}

impl Quote {
    /// Trims what a person typed, fills the default currency, checks every field and works
    /// out the total from the lines.
    pub fn normalize(&mut self) -> Result<(), DomainError> {
        trim_all([&mut self.title, &mut self.remarks, &mut self.currency]);
        for line in &mut self.lines {
            trim_all([&mut line.product]);
        }
        default_currency(&mut self.currency);
        self.validate()?;
        // Kept the way they read: prices with cents, quantities and discounts without
        // trailing zeros (`1200.00`, `2.5`, `5`).
        for line in &mut self.lines {
            line.unit_price = cents(line.unit_price);
            line.quantity = line.quantity.normalize();
            line.discount = line.discount.normalize();
        }
        let total: Decimal = self.lines.iter().map(QuoteLine::amount).sum();
        if total > MAX_AMOUNT {
            return Err(DomainError::invalid("total", format!("must be at most {MAX_AMOUNT}")));
        }
        self.total = cents(total);
        Ok(())
    }

    /// Checks the fields a person typed.
    pub fn validate(&self) -> Result<(), DomainError> {
        one_line_title(&self.title)?;
        text("remarks", &self.remarks, 2000)?;
        known("customer", self.customer)?;
        known("owner", self.owner)?;
        currency("currency", &self.currency)?;
        plausible_date("valid_until", self.valid_until)?;
        if self.lines.is_empty() {
            return Err(DomainError::Required { field: "lines".into() });
        }
        if self.lines.len() > MAX_QUOTE_LINES {
            return Err(DomainError::invalid(
                "lines",
                format!("a quote holds at most {MAX_QUOTE_LINES} lines"),
            ));
        }
        for (at, line) in self.lines.iter().enumerate() {
            line.validate(at + 1)?;
        }
        Ok(())
    }

    /// Whether the owner may still change (or submit) the quote.
    pub fn is_editable(&self) -> bool {
        self.status.is_editable()
    }
}

/// A contract (合同) signed, or to be signed, with a customer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Contract {
    /// Record id.
    pub id: RecordId,
    /// Stored version.
    #[serde(default)]
    pub version: u64,
    /// Document number, given on creation (`CT000001`).
    #[serde(default)]
    pub code: String,
    /// The customer the contract is with.
    pub customer: RecordId,
    /// The salesperson who owns it and submits it.
    pub owner: RecordId,
    /// A one-line subject.
    pub title: String,
    /// The contract's value, in `currency`; positive, at most two decimals.
    pub amount: Decimal,
    /// ISO currency code, `CNY` unless given.
    #[serde(default)]
    pub currency: String,
    /// The quote it follows, if any.
    #[serde(default)]
    pub quote: Option<RecordId>,
    /// The day it is (to be) signed.
    #[serde(default)]
    pub signed_on: Option<NaiveDate>,
    /// The first day it runs.
    #[serde(default)]
    pub starts_on: Option<NaiveDate>,
    /// The last day it runs.
    #[serde(default)]
    pub ends_on: Option<NaiveDate>,
    /// How and when the customer pays.
    #[serde(default)]
    pub payment_terms: String,
    /// Anything else.
    #[serde(default)]
    pub remarks: String,
    /// Where the contract stands; follows its approval.
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

static CONTRACT: LazyLock<EntityDesc> = LazyLock::new(|| {
    EntityDesc::new(
        "contract",
        vec![
            FieldDesc::new("code", T::Text, "Number", "合同编号").indexed().sortable(),
            FieldDesc::new("customer", T::Ref, "Customer", "客户").indexed(),
            FieldDesc::new("owner", T::Ref, "Owner", "负责人").indexed(),
            FieldDesc::new("title", T::Text, "Title", "标题").sortable(),
            FieldDesc::new("amount", T::Decimal, "Amount", "合同金额").sortable(),
            FieldDesc::new("currency", T::Text, "Currency", "币种"),
            FieldDesc::new("quote", T::Ref, "Quote", "报价单").indexed(),
            FieldDesc::new("signed_on", T::Date, "Signed on", "签订日期").sortable(),
            FieldDesc::new("starts_on", T::Date, "Starts on", "开始日期").sortable(),
            FieldDesc::new("ends_on", T::Date, "Ends on", "结束日期").sortable(),
            FieldDesc::new("payment_terms", T::Text, "Payment terms", "付款方式"),
            FieldDesc::new("remarks", T::Text, "Remarks", "备注"),
        ]
        .into_iter()
        .chain(approval_fields())
        .collect(),
    )
    .expect("contract description is valid")
});

impl Entity for Contract {
    fn desc() -> &'static EntityDesc {
        &CONTRACT
    }
    fn id(&self) -> RecordId {
        self.id
    }
}

impl Contract {
    /// Trims what a person typed, fills the default currency, checks every field and keeps
    /// the amount with two decimals.
    pub fn normalize(&mut self) -> Result<(), DomainError> {
        trim_all([&mut self.title, &mut self.payment_terms, &mut self.remarks, &mut self.currency]);
        default_currency(&mut self.currency);
        self.validate()?;
        self.amount = cents(self.amount);
        Ok(())
    }

    /// Checks the fields a person typed.
    pub fn validate(&self) -> Result<(), DomainError> {
        one_line_title(&self.title)?;
        text("payment_terms", &self.payment_terms, 2000)?;
        text("remarks", &self.remarks, 2000)?;
        known("customer", self.customer)?;
        known("owner", self.owner)?;
        currency("currency", &self.currency)?;
        positive_amount("amount", self.amount)?;
        plausible_date("signed_on", self.signed_on)?;
        plausible_date("starts_on", self.starts_on)?;
        plausible_date("ends_on", self.ends_on)?;
        if let (Some(starts), Some(ends)) = (self.starts_on, self.ends_on) {
            if ends < starts {
                return Err(DomainError::invalid("ends_on", "is before the start date"));
            }
        }
        Ok(())
    }

    /// Whether the owner may still change (or submit) the contract.
    pub fn is_editable(&self) -> bool {
        self.status.is_editable()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(product: &str, quantity: i64, price: i64, discount: i64) -> QuoteLine {
        QuoteLine {
            product: product.into(),
            quantity: Decimal::new(quantity, 0),
            unit_price: Decimal::new(price, 2),
            discount: Decimal::new(discount, 0),
        }
    }

    fn quote(lines: Vec<QuoteLine>) -> Quote {
        Quote {
            customer: RecordId(1),
            owner: RecordId(2),
            title: " 年度维保 ".into(),
            lines,
            ..Quote::default()
        }
    }

    #[test]
    fn a_quote_total_is_the_sum_of_its_discounted_lines() {
        // 3 × 19.99 = 59.97; 2 × 100.00 less 15 % = 170.00.
        let mut q = quote(vec![line("滤芯", 3, 1999, 0), line("上门服务", 2, 10000, 15)]);
        q.normalize().unwrap();
        assert_eq!(q.total.to_string(), "229.97");
        assert_eq!((q.title.as_str(), q.currency.as_str()), ("年度维保", "CNY"));
    }

    #[test]
    fn bad_quote_lines_name_the_line_and_field() {
        let cases = [
            (line("", 1, 100, 0), "lines[2].product"),
            (line("x", 0, 100, 0), "lines[2].quantity"),
            (line("x", 1, -100, 0), "lines[2].unit_price"),
            (line("x", 1, 100, 101), "lines[2].discount"),
        ];
        for (bad, field) in cases {
            let mut q = quote(vec![line("ok", 1, 100, 0), bad]);
            let error = q.normalize().unwrap_err();
            let named = match &error {
                DomainError::Invalid { field, .. } | DomainError::Required { field } => field,
                other => panic!("{other:?}"),
            };
            assert_eq!(named, field, "{error:?}");
        }
        assert!(quote(Vec::new()).normalize().is_err());
    }

    #[test]
    fn contracts_check_amount_and_dates() {
        let mut c = Contract {
            customer: RecordId(1),
            owner: RecordId(2),
            title: "框架合同".into(),
            amount: Decimal::new(120_005, 1),
            currency: "usd".into(),
            starts_on: NaiveDate::from_ymd_opt(2027, 1, 1),
            ends_on: NaiveDate::from_ymd_opt(2027, 12, 31),
            ..Contract::default()
        };
        c.normalize().unwrap();
        assert_eq!((c.amount.to_string().as_str(), c.currency.as_str()), ("12000.50", "USD"));
        c.ends_on = NaiveDate::from_ymd_opt(2026, 12, 31);
        assert!(
            matches!(c.validate(), Err(DomainError::Invalid { field, .. }) if field == "ends_on")
        );
        c.ends_on = None;
        c.amount = Decimal::ZERO;
        assert!(
            matches!(c.validate(), Err(DomainError::Invalid { field, .. }) if field == "amount")
        );
    }
}
