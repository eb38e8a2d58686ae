//! Branch conditions of exclusive gateways: a small expression language over the bound
//! record's fields, with no arbitrary code.
//!
//! A condition compares a field with a literal (`amount > 10000`, `region == 'north'`,
//! `category in ['a', 'b']`, `note == null`) and combines comparisons with `and`, `or`, `not`
//! and parentheses. Definitions keep conditions as this text; [`Condition`] is the parsed
//! tree, and printing it gives text that parses back to the same tree. Conditions are checked
//! against the form's field types when a definition is validated, so evaluation never meets
//! a field the form lacks.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, Utc};
use crm_domain::{FieldType, Value};
use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// How deeply conditions may nest; deeper text is refused so parsing stays bounded.
const MAX_DEPTH: usize = 32;

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

impl CompareOp {
    fn symbol(self) -> &'static str {
        match self {
            CompareOp::Eq => "==",
            CompareOp::Ne => "!=",
            CompareOp::Lt => "<",
            CompareOp::Le => "<=",
            CompareOp::Gt => ">",
            CompareOp::Ge => ">=",
        }
    }

    fn holds(self, order: Option<Ordering>) -> bool {
        match self {
            CompareOp::Eq => order == Some(Ordering::Equal),
            CompareOp::Ne => order != Some(Ordering::Equal),
            CompareOp::Lt => order == Some(Ordering::Less),
            CompareOp::Le => matches!(order, Some(Ordering::Less | Ordering::Equal)),
            CompareOp::Gt => order == Some(Ordering::Greater),
            CompareOp::Ge => matches!(order, Some(Ordering::Greater | Ordering::Equal)),
        }
    }

    fn is_ordering(self) -> bool {
        !matches!(self, CompareOp::Eq | CompareOp::Ne)
    }
}

/// A literal on the right of a comparison.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Literal {
    /// `null`: the field is not set.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A decimal number (`10000`, `-2.5`); compares with integer, decimal and reference fields.
    Number(Decimal),
    /// Quoted text (`'north'` or `"north"`); compares with text fields, and with date and
    /// timestamp fields when it holds an ISO date (`'2024-05-01'`) or an RFC 3339 instant.
    Text(String),
}

impl fmt::Display for Literal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Literal::Null => f.write_str("null"),
            Literal::Bool(b) => write!(f, "{b}"),
            Literal::Number(n) => write!(f, "{n}"),
            Literal::Text(text) => {
                f.write_str("'")?;
                for c in text.chars() {
                    if c == '\'' || c == '\\' {
                        f.write_str("\\")?;
                    }
                    write!(f, "{c}")?;
                }
                f.write_str("'")
            }
        }
    }
}

/// A parsed branch condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Condition {
    /// `field op literal`.
    Compare {
        /// The field of the bound record.
        field: String,
        /// The operator.
        op: CompareOp,
        /// The literal compared with.
        value: Literal,
    },
    /// `field in [literal, ...]`: the field equals one of the literals.
    In {
        /// The field of the bound record.
        field: String,
        /// The accepted literals.
        values: Vec<Literal>,
    },
    /// Every part holds.
    And(Vec<Condition>),
    /// At least one part holds.
    Or(Vec<Condition>),
    /// The part does not hold.
    Not(Box<Condition>),
}

/// Why a condition text could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("condition {text:?}, at character {at}: {reason}")]
pub struct ConditionParseError {
    /// The whole condition text.
    pub text: String,
    /// The character offset where reading failed.
    pub at: usize,
    /// What was expected.
    pub reason: String,
}

/// Why a condition does not fit the form it is evaluated over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ConditionProblem {
    /// The condition names a field the form lacks.
    UnknownField(String),
    /// The field exists but the literal or operator does not fit its type.
    Mismatch { field: String, reason: String },
    /// An `and`/`or` without parts, or an `in` without values.
    Empty,
}

impl Condition {
    /// Whether the condition holds for the record `fields` (a missing field reads as null).
    ///
    /// Comparisons with null are false except `!=`; values and literals of types that do not
    /// compare (which validation refuses) never equal each other.
    pub fn evaluate(&self, fields: &BTreeMap<String, Value>) -> bool {
        match self {
            Condition::Compare { field, op, value } => {
                let current = fields.get(field).unwrap_or(&Value::Null);
                op.holds(compare(current, value))
            }
            Condition::In { field, values } => {
                let current = fields.get(field).unwrap_or(&Value::Null);
                values.iter().any(|v| compare(current, v) == Some(Ordering::Equal))
            }
            Condition::And(parts) => parts.iter().all(|p| p.evaluate(fields)),
            Condition::Or(parts) => parts.iter().any(|p| p.evaluate(fields)),
            Condition::Not(part) => !part.evaluate(fields),
        }
    }

    /// The fields the condition names, in order of appearance.
    pub fn fields(&self) -> Vec<&str> {
        let mut out = Vec::new();
        self.collect_fields(&mut out);
        out
    }

    fn collect_fields<'a>(&'a self, out: &mut Vec<&'a str>) {
        match self {
            Condition::Compare { field, .. } | Condition::In { field, .. } => out.push(field),
            Condition::And(parts) | Condition::Or(parts) => {
                parts.iter().for_each(|p| p.collect_fields(out));
            }
            Condition::Not(part) => part.collect_fields(out),
        }
    }

    /// Checks every comparison against the form's field types.
    pub(crate) fn check(
        &self,
        types: &BTreeMap<String, FieldType>,
    ) -> Result<(), ConditionProblem> {
        match self {
            Condition::Compare { field, op, value } => check_literal(types, field, *op, value),
            Condition::In { field, values } => {
                if values.is_empty() {
                    return Err(ConditionProblem::Empty);
                }
                values.iter().try_for_each(|v| check_literal(types, field, CompareOp::Eq, v))
            }
            Condition::And(parts) | Condition::Or(parts) => {
                if parts.is_empty() {
                    return Err(ConditionProblem::Empty);
                }
                parts.iter().try_for_each(|p| p.check(types))
            }
            Condition::Not(part) => part.check(types),
        }
    }
}

fn check_literal(
    types: &BTreeMap<String, FieldType>,
    field: &str,
    op: CompareOp,
    literal: &Literal,
) -> Result<(), ConditionProblem> {
    let Some(ty) = types.get(field) else {
        return Err(ConditionProblem::UnknownField(field.to_owned()));
    };
    let mismatch = |reason: String| ConditionProblem::Mismatch { field: field.to_owned(), reason };
    if matches!(literal, Literal::Null) {
        return if op.is_ordering() {
            Err(mismatch(format!("{} cannot compare with null", op.symbol())))
        } else {
            Ok(())
        };
    }
    let fits = match (ty, literal) {
        (FieldType::Integer | FieldType::Decimal, Literal::Number(_)) => true,
        (FieldType::Ref, Literal::Number(n)) => n.is_integer() && !n.is_sign_negative(),
        (FieldType::Text, Literal::Text(_)) => true,
        (FieldType::Bool, Literal::Bool(_)) => true,
        (FieldType::Date, Literal::Text(text)) => text.parse::<NaiveDate>().is_ok(),
        (FieldType::Timestamp, Literal::Text(text)) => text.parse::<DateTime<Utc>>().is_ok(),
        _ => false,
    };
    if !fits {
        return Err(mismatch(format!("a {ty:?} field cannot compare with {literal}")));
    }
    if op.is_ordering() && matches!(ty, FieldType::Bool | FieldType::Ref) {
        return Err(mismatch(format!("a {ty:?} field has no order for {}", op.symbol())));
    }
    Ok(())
}

/// Orders a field value against a literal; `None` when they do not compare.
fn compare(value: &Value, literal: &Literal) -> Option<Ordering> {
    match (value, literal) {
        (Value::Null, Literal::Null) => Some(Ordering::Equal),
        (Value::Null, _) | (_, Literal::Null) => None,
        (Value::Integer(i), Literal::Number(n)) => Some(Decimal::from(*i).cmp(n)),
        (Value::Decimal(d), Literal::Number(n)) => Some(d.cmp(n)),
        (Value::Ref(id), Literal::Number(n)) => Some(Decimal::from(id.0).cmp(n)),
        (Value::Text(t), Literal::Text(l)) => Some(t.as_str().cmp(l.as_str())),
        (Value::Bool(b), Literal::Bool(l)) => Some(b.cmp(l)),
        (Value::Date(d), Literal::Text(l)) => l.parse::<NaiveDate>().ok().map(|l| d.cmp(&l)),
        (Value::Timestamp(t), Literal::Text(l)) => {
            l.parse::<DateTime<Utc>>().ok().map(|l| t.cmp(&l))
        }
        _ => None,
    }
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Nested and/or/not parts are parenthesised, so the text parses back to this tree.
        fn part(f: &mut fmt::Formatter<'_>, condition: &Condition) -> fmt::Result {
            match condition {
                Condition::Compare { .. } | Condition::In { .. } => write!(f, "{condition}"),
                _ => write!(f, "({condition})"),
            }
        }
        match self {
            Condition::Compare { field, op, value } => write!(f, "{field} {} {value}", op.symbol()),
            Condition::In { field, values } => {
                write!(f, "{field} in [")?;
                for (i, value) in values.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{value}")?;
                }
                f.write_str("]")
            }
            Condition::And(parts) | Condition::Or(parts) => {
                let joint = if matches!(self, Condition::And(_)) { " and " } else { " or " };
                for (i, p) in parts.iter().enumerate() {
                    if i > 0 {
                        f.write_str(joint)?;
                    }
                    part(f, p)?;
                }
                Ok(())
            }
            Condition::Not(inner) => {
                f.write_str("not ")?;
                part(f, inner)
            }
        }
    }
}

impl FromStr for Condition {
    type Err = ConditionParseError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let tokens = tokenize(text)?;
        let mut parser = Parser { text, tokens, at: 0 };
        let condition = parser.or(0)?;
        match parser.tokens.get(parser.at) {
            None => Ok(condition),
            Some((offset, _)) => Err(parser.error_at(*offset, "expected `and`, `or` or the end")),
        }
    }
}

impl Serialize for Condition {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Condition {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Word(String),
    Number(Decimal),
    Text(String),
    Op(CompareOp),
    Open,
    Close,
    OpenList,
    CloseList,
    Comma,
}

fn tokenize(text: &str) -> Result<Vec<(usize, Token)>, ConditionParseError> {
    let error = |at: usize, reason: &str| ConditionParseError {
        text: text.to_owned(),
        at,
        reason: reason.to_owned(),
    };
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while let Some(&(offset, c)) = chars.get(i) {
        let next = chars.get(i + 1).map(|(_, c)| *c);
        let single = match c {
            '(' => Some(Token::Open),
            ')' => Some(Token::Close),
            '[' => Some(Token::OpenList),
            ']' => Some(Token::CloseList),
            ',' => Some(Token::Comma),
            _ => None,
        };
        if c.is_whitespace() {
            i += 1;
        } else if let Some(token) = single {
            tokens.push((offset, token));
            i += 1;
        } else if matches!(c, '=' | '!' | '<' | '>') {
            let (op, width) = match (c, next) {
                ('=', Some('=')) => (CompareOp::Eq, 2),
                ('=', _) => (CompareOp::Eq, 1),
                ('!', Some('=')) => (CompareOp::Ne, 2),
                ('<', Some('=')) => (CompareOp::Le, 2),
                ('<', Some('>')) => (CompareOp::Ne, 2),
                ('<', _) => (CompareOp::Lt, 1),
                ('>', Some('=')) => (CompareOp::Ge, 2),
                ('>', _) => (CompareOp::Gt, 1),
                _ => return Err(error(offset, "expected `!=`")),
            };
            tokens.push((offset, Token::Op(op)));
            i += width;
        } else if c == '\'' || c == '"' {
            let mut value = String::new();
            i += 1;
            loop {
                match chars.get(i).map(|(_, c)| *c) {
                    None => return Err(error(offset, "the quoted text is not closed")),
                    Some(q) if q == c => break,
                    Some('\\') => {
                        let Some(&(_, escaped)) = chars.get(i + 1) else {
                            return Err(error(offset, "the quoted text is not closed"));
                        };
                        value.push(escaped);
                        i += 2;
                    }
                    Some(other) => {
                        value.push(other);
                        i += 1;
                    }
                }
            }
            i += 1;
            tokens.push((offset, Token::Text(value)));
        } else if c.is_ascii_digit() || (c == '-' && next.is_some_and(|n| n.is_ascii_digit())) {
            let start = i;
            i += 1;
            while chars.get(i).is_some_and(|(_, c)| c.is_ascii_digit() || *c == '.') {
                i += 1;
            }
            let end = chars.get(i).map_or(text.len(), |(o, _)| *o);
            let number = text.get(offset..end).unwrap_or_default();
            let number = number.parse::<Decimal>().map_err(|_| {
                error(chars.get(start).map_or(0, |(o, _)| *o), "this is not a number")
            })?;
            tokens.push((offset, Token::Number(number)));
        } else if c.is_ascii_alphabetic() || c == '_' {
            i += 1;
            while chars
                .get(i)
                .is_some_and(|(_, c)| c.is_ascii_alphanumeric() || matches!(c, '_' | '.'))
            {
                i += 1;
            }
            let end = chars.get(i).map_or(text.len(), |(o, _)| *o);
            tokens.push((offset, Token::Word(text.get(offset..end).unwrap_or_default().into())));
        } else {
            return Err(error(offset, &format!("unexpected character {c:?}")));
        }
    }
    Ok(tokens)
}

struct Parser<'t> {
    text: &'t str,
    tokens: Vec<(usize, Token)>,
    at: usize,
}

impl Parser<'_> {
    fn error_at(&self, at: usize, reason: &str) -> ConditionParseError {
        ConditionParseError { text: self.text.to_owned(), at, reason: reason.to_owned() }
    }

    fn error_here(&self, reason: &str) -> ConditionParseError {
        let at = self.tokens.get(self.at).map_or(self.text.len(), |(offset, _)| *offset);
        self.error_at(at, reason)
    }

    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at).map(|(_, t)| t)
    }

    fn next(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.at).map(|(_, t)| t.clone());
        self.at += 1;
        token
    }

    fn is_word(&self, word: &str) -> bool {
        matches!(self.peek(), Some(Token::Word(w)) if w == word)
    }

    fn or(&mut self, depth: usize) -> Result<Condition, ConditionParseError> {
        let mut parts = vec![self.and(depth)?];
        while self.is_word("or") {
            self.at += 1;
            parts.push(self.and(depth)?);
        }
        Ok(if parts.len() == 1 { parts.remove(0) } else { Condition::Or(parts) })
    }

    fn and(&mut self, depth: usize) -> Result<Condition, ConditionParseError> {
        let mut parts = vec![self.unary(depth)?];
        while self.is_word("and") {
            self.at += 1;
            parts.push(self.unary(depth)?);
        }
        Ok(if parts.len() == 1 { parts.remove(0) } else { Condition::And(parts) })
    }

    fn unary(&mut self, depth: usize) -> Result<Condition, ConditionParseError> {
        if depth > MAX_DEPTH {
            return Err(self.error_here("the condition nests too deeply"));
        }
        if self.is_word("not") {
            self.at += 1;
            return Ok(Condition::Not(Box::new(self.unary(depth + 1)?)));
        }
        if self.peek() == Some(&Token::Open) {
            self.at += 1;
            let inner = self.or(depth + 1)?;
            if self.next() != Some(Token::Close) {
                self.at -= 1;
                return Err(self.error_here("expected `)`"));
            }
            return Ok(inner);
        }
        self.comparison()
    }

    fn comparison(&mut self) -> Result<Condition, ConditionParseError> {
        let field = match self.peek() {
            Some(Token::Word(w)) if !is_keyword(w) => w.clone(),
            _ => return Err(self.error_here("expected a field name")),
        };
        self.at += 1;
        if self.is_word("in") {
            self.at += 1;
            if self.next() != Some(Token::OpenList) {
                self.at -= 1;
                return Err(self.error_here("expected `[` after `in`"));
            }
            let mut values = vec![self.literal()?];
            loop {
                match self.next() {
                    Some(Token::Comma) => values.push(self.literal()?),
                    Some(Token::CloseList) => break,
                    _ => {
                        self.at -= 1;
                        return Err(self.error_here("expected `,` or `]`"));
                    }
                }
            }
            return Ok(Condition::In { field, values });
        }
        let op = match self.next() {
            Some(Token::Op(op)) => op,
            _ => {
                self.at -= 1;
                return Err(self.error_here("expected a comparison (==, !=, <, <=, >, >=, in)"));
            }
        };
        let value = self.literal()?;
        Ok(Condition::Compare { field, op, value })
    }

    fn literal(&mut self) -> Result<Literal, ConditionParseError> {
        let literal = match self.peek() {
            Some(Token::Number(n)) => Literal::Number(*n),
            Some(Token::Text(t)) => Literal::Text(t.clone()),
            Some(Token::Word(w)) if w == "true" => Literal::Bool(true),
            Some(Token::Word(w)) if w == "false" => Literal::Bool(false),
            Some(Token::Word(w)) if w == "null" => Literal::Null,
            _ => return Err(self.error_here("expected a number, quoted text, true, false or null")),
        };
        self.at += 1;
        Ok(literal)
    }
}

/// Whether `word` is a word of the condition language (`and`, `null`, …), which a field of a
/// form that conditions name cannot be called.
pub fn is_keyword(word: &str) -> bool {
    matches!(word, "and" | "or" | "not" | "in" | "true" | "false" | "null")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(pairs: &[(&str, Value)]) -> BTreeMap<String, Value> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect()
    }

    #[test]
    fn parses_and_prints_back() {
        let text = "amount > 10000 and (region == 'north' or not vip == true) or tag in ['a', 'b']";
        let condition: Condition = text.parse().unwrap();
        let printed = condition.to_string();
        assert_eq!(
            printed,
            "(amount > 10000 and (region == 'north' or (not vip == true))) or tag in ['a', 'b']"
        );
        assert_eq!(printed.parse::<Condition>().unwrap(), condition);
    }

    #[test]
    fn evaluates_over_fields() {
        let condition: Condition = "amount >= 100.5 and region != 'south'".parse().unwrap();
        let decimal = Value::Decimal("100.5".parse().unwrap());
        assert!(condition.evaluate(&fields(&[("amount", decimal), ("region", "north".into())])));
        assert!(!condition.evaluate(&fields(&[("amount", Value::Integer(100))])));
        let unset: Condition = "note == null".parse().unwrap();
        assert!(unset.evaluate(&BTreeMap::new()));
        let date: Condition = "due < '2024-06-01'".parse().unwrap();
        let may = NaiveDate::from_ymd_opt(2024, 5, 31).unwrap();
        assert!(date.evaluate(&fields(&[("due", Value::Date(may))])));
    }

    #[test]
    fn quoted_text_escapes_round_trip() {
        let condition = Condition::Compare {
            field: "name".into(),
            op: CompareOp::Eq,
            value: Literal::Text("O'Brien \\ co".into()),
        };
        assert_eq!(condition.to_string().parse::<Condition>().unwrap(), condition);
    }

    #[test]
    fn refuses_bad_text_with_a_position() {
        let err = "amount >".parse::<Condition>().unwrap_err();
        assert_eq!(err.at, 8);
        let err = "amount > 5 region == 'x'".parse::<Condition>().unwrap_err();
        assert_eq!(err.at, 11);
        assert!("and > 5".parse::<Condition>().is_err());
        assert!("a == 'open".parse::<Condition>().is_err());
        let deep = format!("{}a == 1{}", "(".repeat(40), ")".repeat(40));
        assert!(deep.parse::<Condition>().unwrap_err().reason.contains("nests too deeply"));
    }

    #[test]
    fn checks_types_against_the_form() {
        let types: BTreeMap<String, FieldType> = [
            ("amount".to_owned(), FieldType::Decimal),
            ("vip".to_owned(), FieldType::Bool),
            ("due".to_owned(), FieldType::Date),
        ]
        .into();
        let ok: Condition = "amount > 5 and vip == true and due >= '2024-01-01'".parse().unwrap();
        assert_eq!(ok.check(&types), Ok(()));
        let unknown: Condition = "total > 5".parse().unwrap();
        assert_eq!(unknown.check(&types), Err(ConditionProblem::UnknownField("total".into())));
        let text: Condition = "amount == 'x'".parse().unwrap();
        assert!(matches!(text.check(&types), Err(ConditionProblem::Mismatch { .. })));
        let order: Condition = "vip > false".parse().unwrap();
        assert!(matches!(order.check(&types), Err(ConditionProblem::Mismatch { .. })));
        let bad_date: Condition = "due > 'soon'".parse().unwrap();
        assert!(matches!(bad_date.check(&types), Err(ConditionProblem::Mismatch { .. })));
    }
}
