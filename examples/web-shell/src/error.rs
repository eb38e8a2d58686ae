//! What can go wrong in a handler, which HTTP status each failure gets, and how it reads to
//! the person in their language.

use axum::http::StatusCode;
use axum::response::Response;
use crm::{
    Attachment, Contact, Customer, DomainError, Interaction, Lead, Relative, StoreErrorKind,
};
use crm_workflow::{ActionError, WorkflowError};
use maud::html;

use crate::auth::Ctx;
use crate::html::{layout, respond, Nav};
use crate::i18n::{field_label, t, Lang};

/// What a page handler returns: a page, or an error page.
pub(crate) type Reply = Result<Response, Response>;

/// A failure of a request.
#[derive(Debug)]
pub(crate) enum AppError {
    /// The facade refused or failed.
    Crm(crm::Error),
    /// No such page or record.
    NotFound,
    /// The request itself is malformed; the text says what, in the person's language.
    BadRequest(String),
    /// The CSRF token is missing or wrong.
    Forbidden,
    /// The body is larger than allowed.
    TooLarge,
    /// A bug or an outage; the text goes to the log, not to the page.
    Internal(String),
}

impl From<crm::Error> for AppError {
    fn from(error: crm::Error) -> Self {
        AppError::Crm(error)
    }
}

/// Which entity a failing form was about, so a field name reads as that entity's label.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Hint {
    Customer,
    Lead,
    Interaction,
    /// An uploaded file (`file` is the content as a whole, other fields are the file's).
    Attachment,
    /// An expense, reimbursement or loan request, or a decision on one that may carry a file.
    Request,
    /// A quote, or a decision on one.
    Quote,
    /// A contract, or a decision on one.
    Contract,
    /// An entry of a user-defined form, or a decision on one (the form's own fields read as
    /// their names; the form pages label them from the form).
    FormEntry,
}

impl Hint {
    /// The hint for a decision on a request bound as `form`.
    pub(crate) fn of_form(form: &crm_workflow::FormBinding) -> Self {
        match form {
            crm_workflow::FormBinding::Quote => Hint::Quote,
            crm_workflow::FormBinding::Contract => Hint::Contract,
            crm_workflow::FormBinding::Custom(_) => Hint::FormEntry,
            _ => Hint::Request,
        }
    }
}

impl AppError {
    /// The HTTP status of the failure.
    pub(crate) fn status(&self) -> StatusCode {
        match self {
            AppError::Crm(e) => crm_status(e),
            AppError::NotFound => StatusCode::NOT_FOUND,
            AppError::BadRequest(_) => StatusCode::BAD_REQUEST,
            AppError::Forbidden => StatusCode::FORBIDDEN,
            AppError::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The message shown on the page.
    pub(crate) fn message(&self, lang: Lang, hint: Hint) -> String {
        match self {
            AppError::Crm(e) => describe(lang, e, hint),
            AppError::NotFound => t(lang, "not_found").to_owned(),
            AppError::BadRequest(text) => format!("{} {text}", t(lang, "bad_request")),
            AppError::Forbidden => t(lang, "forbidden_form").to_owned(),
            AppError::TooLarge => t(lang, "too_large").to_owned(),
            AppError::Internal(_) => t(lang, "internal").to_owned(),
        }
    }
}

fn crm_status(error: &crm::Error) -> StatusCode {
    match error {
        crm::Error::Domain(e) => match e {
            DomainError::NotFound { .. } => StatusCode::NOT_FOUND,
            DomainError::Forbidden(_) => StatusCode::FORBIDDEN,
            DomainError::Cycle { .. } | DomainError::InUse { .. } | DomainError::State(_) => {
                StatusCode::CONFLICT
            }
            DomainError::Malformed { .. } => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::BAD_REQUEST,
        },
        crm::Error::Store(e) => match e.kind() {
            StoreErrorKind::NotFound => StatusCode::NOT_FOUND,
            StoreErrorKind::Conflict | StoreErrorKind::Constraint => StatusCode::CONFLICT,
            StoreErrorKind::InvalidQuery => StatusCode::BAD_REQUEST,
            StoreErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        },
        crm::Error::Import(_) | crm::Error::Io(_) => StatusCode::BAD_REQUEST,
        crm::Error::Workflow(e) => workflow_status(e),
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// The status of an approval engine refusal: a decision that lost a race or came too late is a
/// conflict, a bad definition or input is the request's fault, an unknown name or id is 404.
fn workflow_status(error: &WorkflowError) -> StatusCode {
    match error {
        WorkflowError::Definition(_) => StatusCode::BAD_REQUEST,
        WorkflowError::Action(e) => match e {
            ActionError::UnknownTask { .. } => StatusCode::NOT_FOUND,
            ActionError::AlreadyDecided { .. }
            | ActionError::NotAssignee { .. }
            | ActionError::Reassigned { .. }
            | ActionError::NotYourTurn { .. }
            | ActionError::WithdrawAfterDecision
            | ActionError::WrongStatus { .. }
            | ActionError::SelfApproval { .. }
            | ActionError::AlreadyAssigned { .. } => StatusCode::CONFLICT,
            ActionError::NotSubmitter { .. } | ActionError::NotParticipant { .. } => {
                StatusCode::FORBIDDEN
            }
            ActionError::Replay(_) | ActionError::WouldLoop { .. } => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
            _ => StatusCode::BAD_REQUEST,
        },
        WorkflowError::UnknownDefinition { .. } | WorkflowError::UnknownInstance { .. } => {
            StatusCode::NOT_FOUND
        }
        WorkflowError::AlreadyPending { .. } => StatusCode::CONFLICT,
        WorkflowError::Store(e) => match e.kind() {
            StoreErrorKind::NotFound => StatusCode::NOT_FOUND,
            StoreErrorKind::Conflict | StoreErrorKind::Constraint => StatusCode::CONFLICT,
            StoreErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        },
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// The sentence for `lang`, from its Chinese and English forms.
fn say(lang: Lang, zh: String, en: String) -> String {
    match lang {
        Lang::Zh => zh,
        Lang::En => en,
    }
}

/// An approval engine refusal as a sentence in the person's language, naming the node, task,
/// user or field concerned by its identifier.
// FIXME: a definition's own faults (admin-facing) and any reason missing from `ZH_REASONS`
// and `ZH_SENTENCES` still follow the localized lead-in in English; the library's errors
// should carry message keys with their values instead of sentences, so no table has to match
// them word for word.
fn describe_workflow(lang: Lang, error: &WorkflowError) -> String {
    let key = match error {
        WorkflowError::Definition(e) => return format!("{} {e}", t(lang, "wf_bad_definition")),
        WorkflowError::Action(e) => return describe_action(lang, e),
        WorkflowError::UnknownDefinition { .. } => "wf_unknown_definition",
        WorkflowError::UnknownInstance { .. } => "not_found",
        WorkflowError::AlreadyPending { .. } => "wf_already_pending",
        WorkflowError::Store(e) if e.kind() == StoreErrorKind::Conflict => "wf_stale",
        _ => "internal",
    };
    t(lang, key).to_owned()
}

/// A refused action as a sentence in the person's language.
fn describe_action(lang: Lang, error: &ActionError) -> String {
    let key = match error {
        ActionError::AlreadyDecided { .. } => "wf_already_decided",
        ActionError::NotAssignee { .. } | ActionError::Reassigned { .. } => "wf_not_assignee",
        ActionError::NotYourTurn { .. } => "wf_not_your_turn",
        ActionError::WithdrawAfterDecision => "wf_withdraw_after_decision",
        ActionError::WrongStatus { .. } => "wf_wrong_status",
        ActionError::NotParticipant { .. } => "wf_not_participant",
        ActionError::Replay(_) | ActionError::WouldLoop { .. } => "internal",
        ActionError::UnknownTask { task } => {
            return say(lang, format!("申请中没有任务 {task}。"), format!("There is no task {task} in this request."))
        }
        ActionError::NoApprover { node } => {
            return say(
                lang,
                format!(
                    "节点 \"{node}\" 找不到可以审批的在职人员，备用审批人也不能接手（申请人不能审批自己的申请，除非流程允许）。请检查流程定义和组织架构。"
                ),
                format!(
                    "Node \"{node}\" has no active approver and no fallback approver can take it (submitters never approve their own requests unless the flow allows it); check the flow and the organisation."
                ),
            )
        }
        ActionError::NoBranch { node } => {
            return say(
                lang,
                format!("分支节点 \"{node}\" 没有满足条件的分支，也没有默认分支。"),
                format!("Gateway \"{node}\": no branch condition holds and there is no default branch."),
            )
        }
        ActionError::CannotReturn { node, reason } => {
            return format!("{} \"{node}\" ({})", t(lang, "wf_cannot_return"), reason_text(lang, reason))
        }
        ActionError::SelfApproval { node } => {
            return say(
                lang,
                format!("节点 \"{node}\" 不允许申请人审批自己的申请。"),
                format!("Node \"{node}\" does not let submitters approve their own requests."),
            )
        }
        ActionError::NotSubmitter { .. } => "wf_not_submitter",
        ActionError::FieldNotEditable { node, field } => {
            return say(
                lang,
                format!("节点 \"{node}\" 的审批人不能修改字段 \"{field}\"。"),
                format!("Approvers of node \"{node}\" may not change field \"{field}\"."),
            )
        }
        ActionError::FieldType { field, .. } => {
            return say(
                lang,
                format!("字段 \"{field}\" 的值类型不对。"),
                format!("Field \"{field}\" holds a value of the wrong type."),
            )
        }
        ActionError::InactiveUser { user } => {
            return say(
                lang,
                format!("用户 #{user} 已停用，不能接收任务。"),
                format!("User #{user} is inactive and cannot take tasks."),
            )
        }
        ActionError::AlreadyAssigned { user, node } => {
            return say(
                lang,
                format!("用户 #{user} 已经持有节点 \"{node}\" 的任务。"),
                format!("User #{user} already holds a task of node \"{node}\"."),
            )
        }
        ActionError::NotInUnit { unit, .. } => {
            return say(
                lang,
                format!("您不属于部门 #{unit}，不能为它提交申请。"),
                format!("You do not belong to unit #{unit}, so you cannot submit for it."),
            )
        }
        ActionError::Empty { .. } => "wf_empty",
        ActionError::BadComment { reason } => {
            return format!("{} ({})", t(lang, "wf_bad_comment"), reason_text(lang, reason))
        }
        _ => "wf_refused",
    };
    t(lang, key).to_owned()
}

/// The rules' reasons in Chinese, word for word as the library writes them in English.
const ZH_REASONS: [(&str, &str); 17] = [
    (
        "contracts follow this quote, so its customer cannot change",
        "已有合同依据该报价单,客户不能更改",
    ),
    ("must be greater than zero and at most 1000000000", "必须大于零且不超过 1000000000"),
    ("cannot be left empty", "不能为空"),
    ("must be one line", "只能填一行"),
    ("must be greater than zero", "必须大于零"),
    ("has more than two decimals", "小数不能超过两位"),
    ("has more than four decimals", "小数不能超过四位"),
    ("must be between 0 and 100", "必须在 0 到 100 之间"),
    ("must be between 1 and 5", "必须在 1 到 5 之间"),
    ("is before the start date", "早于开始日期"),
    ("is before the loan's date", "早于借款日期"),
    ("only loans have a repayment date", "只有借款申请有还款日期"),
    ("the form of a request cannot change", "申请的单据类型不能更改"),
    ("is not a field you may change at this step", "当前审批步骤不允许修改该字段"),
    (
        "a request submitted again keeps the unit of its first submission",
        "重新提交的申请沿用首次提交时的部门",
    ),
    ("a quote holds at most 200 lines", "一张报价单最多 200 行"),
    ("use set_parent to move a customer", "请用“设置上级”移动客户"),
];

/// Sentences that carry values, each `{}` standing for one: (English, Chinese), the values
/// taken over in order. Values that are words of the product (a document kind, a status)
/// read in Chinese through [`ZH_WORDS`].
const ZH_SENTENCES: &[(&str, &str)] = &[
    ("must be at most {}", "不能超过 {}"),
    ("longer than {} characters", "超过 {} 个字符"),
    ("contains the control character {}", "含有控制字符 {}"),
    ("{} is outside the years 1900 to 2200", "{} 不在 1900 到 2200 年之间"),
    ("{} is not a three-letter currency code", "{} 不是三位字母的币种代码"),
    ("{} is not an email address", "{} 不是有效的邮箱地址"),
    ("{} is not a number", "{} 不是数字"),
    ("{} is not a whole number", "{} 不是整数"),
    ("{} is not a date and time", "{} 不是日期时间"),
    ("{} is not a date", "{} 不是日期"),
    ("{} is not yes or no", "{} 不是“是”或“否”"),
    ("{} is not one of {}", "{} 不是可选值之一（{}）"),
    ("customer {} is not one you can see", "客户 {} 不在您可查看的范围内"),
    ("customer number {} is already taken", "客户编号 {} 已被使用"),
    ("there is no customer {}", "没有客户 {}"),
    ("there is no quote {}", "没有报价单 {}"),
    ("there is no form {}", "没有表单 {}"),
    ("there is already a form {}", "已有表单 {}"),
    ("quote {} is for another customer", "报价单 {} 属于其他客户"),
    ("is not a field of form {}", "不是表单 {} 的字段"),
    ("must be of kind {}", "必须是{}类型"),
    ("must be a {}", "必须是{}"),
    ("contains the invisible character {}", "含有不可见字符 {}"),
    ("a choice is empty", "选项不能为空"),
    ("contains the direction control character {}", "含有改变文字方向的控制字符 {}"),
    ("contains the character {}", "含有不能显示的字符 {}"),
    ("it is not an approval node of this definition", "它不是该流程的审批节点"),
    ("larger than {} MiB", "超过 {} MiB"),
    ("is a path, not a file name", "是路径而不是文件名"),
    (
        "{} is a word of workflow conditions; choose another name",
        "{} 是审批条件的保留字，请换一个名称",
    ),
    ("{} is declared twice", "{} 重复定义"),
    ("{} is listed twice", "{} 重复列出"),
    (
        "entries keep {} values here; add a new field instead of changing it to {}",
        "已有记录在此保存{}类型的值；请新增字段，不要改为{}",
    ),
    ("entries may hold {}, so the choice stays", "已有记录可能用到 {}，该选项不能删除"),
    (
        "workflow {} bound to this form would no longer fit: {}",
        "绑定到该表单的审批流程 {} 将不再适用：{}",
    ),
    ("{} {} is {} and cannot be changed", "{}{} 的状态为{}，不能修改"),
    ("{} {} has an approval history and is kept", "{}{} 已有审批记录，予以保留"),
    ("only its author changes {} {}", "只有填写人能修改{}{}"),
    ("form {} is retired and takes no new entries", "表单 {} 已停用，不再接受新记录"),
    (
        "no workflow is bound to form {}; an administrator must define one",
        "还没有绑定到表单 {} 的审批流程，请管理员先定义",
    ),
    ("only the owner changes it", "只有负责人能修改"),
    ("it is {}", "当前状态为{}"),
    ("a form holds at most {} fields", "一张表单最多 {} 个字段"),
    ("at most {} choices", "最多 {} 个选项"),
    ("only pick lists have choices, and this field is {}", "只有下拉选择字段有选项，该字段是{}"),
    (
        "{} is not a field name: use lowercase letters, digits and _, starting with a letter, \
         at most 40 characters",
        "{} 不是有效的字段名：请用小写字母、数字和下划线，以字母开头，最多 40 个字符",
    ),
    (
        "{} is not a form key: use lowercase letters, digits and _, starting with a letter, at \
         most 40 characters",
        "{} 不是有效的表单标识：请用小写字母、数字和下划线，以字母开头，最多 40 个字符",
    ),
    ("{} is a name every entry already has; choose another", "{} 是每条记录都已有的名称，请换一个"),
    ("must be between {} and {}", "必须在 {} 到 {} 之间"),
    ("{} is too large", "{} 数值过大"),
    (
        "node {} names field {}, which the bound form lacks",
        "节点 {} 用到的字段 {} 在所绑定的表单中不存在",
    ),
    (
        "no workflow is bound to {}; an administrator must define one",
        "还没有绑定到{}的审批流程，请管理员先定义",
    ),
    ("customer {} is already yours", "客户 {} 已经是您的"),
    (
        "customer {} is not yours to change; request its assignment first",
        "客户 {} 不属于您，不能修改；请先申请分配",
    ),
    (
        "you already asked for customer {}; wait for the decision",
        "您已申请过客户 {}，请等待审批结果",
    ),
    ("lead {} is already converted", "潜在客户 {} 已经转换"),
    ("you have no open task in workflow instance {}", "您在审批 {} 中没有待办任务"),
    (
        "you have several open tasks in workflow instance {}; name one",
        "您在审批 {} 中有多个待办任务，请指定其中一个",
    ),
    ("a converted lead cannot be changed", "已转换的潜在客户不能修改"),
    ("a converted lead is kept as history", "已转换的潜在客户作为历史保留"),
    ("record contacts on the customer this lead became", "请在该潜在客户转换成的客户上记录联系"),
    ("only administrators assign other owners", "只有管理员能指定其他负责人"),
    ("only administrators define workflows", "只有管理员能定义审批流程"),
    ("only administrators edit settings", "只有管理员能修改设置"),
    ("only administrators manage users", "只有管理员能管理用户"),
    ("only administrators set others' passwords", "只有管理员能设置他人的密码"),
    ("only administrators define forms", "只有管理员能定义表单"),
    ("only administrators change forms", "只有管理员能修改表单"),
    ("only administrators retire forms", "只有管理员能停用表单"),
    ("you cannot deactivate yourself", "不能停用自己"),
    ("a form keeps its key", "表单标识不能更改"),
    ("a pick list needs choices", "下拉选择字段需要选项"),
];

/// Words of the product that appear as values in sentences, in Chinese.
const ZH_WORDS: &[(&str, &str)] = &[
    ("quote", "报价单"),
    ("contract", "合同"),
    ("finance request", "费用申请"),
    ("form entry", "表单记录"),
    ("draft", "草稿"),
    ("pending", "审批中"),
    ("approved", "已通过"),
    ("rejected", "已驳回"),
    ("withdrawn", "已撤回"),
    ("text", "文本"),
    ("textarea", "多行文本"),
    ("integer", "整数"),
    ("decimal", "数值"),
    ("date", "日期"),
    ("bool", "是/否"),
    ("choice", "下拉选择"),
    ("expense", "费用申请"),
    ("reimbursement", "报销申请"),
    ("loan", "借款申请"),
    ("customer_assignment", "客户分配申请"),
];

/// The values of `text` where `pattern` has `{}`, when the rest matches word for word. A
/// value may hold spaces (`finance request`); where several splits fit, earlier values take
/// the longest.
fn match_sentence<'t>(pattern: &str, text: &'t str) -> Option<Vec<&'t str>> {
    fn fill<'t>(pieces: &[&str], left: &'t str, values: &mut Vec<&'t str>) -> bool {
        let Some((piece, rest)) = pieces.split_first() else { return left.is_empty() };
        if rest.is_empty() {
            return match left.strip_suffix(piece) {
                Some(value) if !value.is_empty() => {
                    values.push(value);
                    true
                }
                _ => false,
            };
        }
        if piece.is_empty() {
            return false;
        }
        let ends: Vec<usize> = left.match_indices(piece).map(|(at, _)| at).collect();
        for at in ends.into_iter().rev().filter(|at| *at > 0) {
            values.push(&left[..at]);
            if fill(rest, &left[at + piece.len()..], values) {
                return true;
            }
            values.pop();
        }
        false
    }
    let mut pieces = pattern.split("{}");
    let left = text.strip_prefix(pieces.next()?)?;
    let pieces: Vec<&str> = pieces.collect();
    let mut values = Vec::new();
    fill(&pieces, left, &mut values).then_some(values)
}

/// A word of the product (`quote`, `approved`) in the person's language.
fn word(lang: Lang, word: &str) -> &str {
    match lang {
        Lang::Zh => ZH_WORDS.iter().find(|(en, _)| *en == word).map_or(word, |(_, zh)| zh),
        Lang::En => word,
    }
}

/// A rule's reason in the person's language: the library writes it in English, and the
/// reasons people meet most read in Chinese as well; any other stays as written.
pub(crate) fn reason_text(lang: Lang, reason: &str) -> String {
    if lang == Lang::En {
        return reason.to_owned();
    }
    if let Some((_, zh)) = ZH_REASONS.iter().find(|(en, _)| *en == reason) {
        return (*zh).to_owned();
    }
    for (en, zh) in ZH_SENTENCES {
        let Some(values) = match_sentence(en, reason) else { continue };
        let mut values = values.into_iter().map(|value| word(lang, value));
        let mut text = String::new();
        let mut pieces = zh.split("{}").peekable();
        while let Some(piece) = pieces.next() {
            text.push_str(piece);
            if pieces.peek().is_some() {
                text.push_str(values.next().unwrap_or_default());
            }
        }
        return text;
    }
    reason.to_owned()
}

/// The label of a field named in a domain error (`contact.name`, `relative.phone`, `name`).
fn error_field(lang: Lang, field: &str, hint: Hint) -> String {
    if let Some(rest) = field.strip_prefix("contact.") {
        return field_label::<Contact>(lang, rest);
    }
    if let Some(rest) = field.strip_prefix("relative.") {
        return field_label::<Relative>(lang, rest);
    }
    match hint {
        Hint::Customer => field_label::<Customer>(lang, field),
        Hint::Lead => field_label::<Lead>(lang, field),
        Hint::Interaction => field_label::<Interaction>(lang, field),
        Hint::Attachment if field == "file" => t(lang, "file").to_owned(),
        Hint::Attachment => field_label::<Attachment>(lang, field),
        Hint::Request | Hint::Quote | Hint::Contract | Hint::FormEntry if field == "file" => {
            t(lang, "file").to_owned()
        }
        Hint::Request | Hint::Quote | Hint::Contract | Hint::FormEntry if field == "file_name" => {
            field_label::<Attachment>(lang, field)
        }
        Hint::Request => field_label::<crm::FinanceRequest>(lang, field),
        Hint::Quote => field_label::<crm::Quote>(lang, field),
        Hint::Contract => field_label::<crm::Contract>(lang, field),
        Hint::FormEntry => field_label::<crm::FormEntry>(lang, field),
    }
}

/// A facade error as a sentence for the person, naming the field where there is one.
pub(crate) fn describe(lang: Lang, error: &crm::Error, hint: Hint) -> String {
    match error {
        crm::Error::Domain(DomainError::Invalid { field, reason }) => {
            let reason = reason_text(lang, reason);
            format!("{} {} — {reason}", t(lang, "invalid_field"), error_field(lang, field, hint))
        }
        crm::Error::Domain(DomainError::Required { field }) => {
            format!("{} {}", t(lang, "required_field"), error_field(lang, field, hint))
        }
        crm::Error::Domain(DomainError::Cycle { .. }) => t(lang, "cycle").to_owned(),
        crm::Error::Domain(DomainError::InUse { what, count }) => {
            let what = match what.rsplit_once(' ') {
                Some((noun, code)) => format!("{} {code}", word(lang, noun)),
                None => what.clone(),
            };
            format!("{} {what} ({count})", t(lang, "in_use"))
        }
        crm::Error::Domain(DomainError::NotFound { .. }) => t(lang, "not_found").to_owned(),
        crm::Error::Domain(DomainError::Forbidden(why)) => {
            format!("{} {}", t(lang, "permission_denied"), reason_text(lang, why))
        }
        crm::Error::Store(e) if e.kind() == StoreErrorKind::Conflict => {
            t(lang, "conflict").to_owned()
        }
        crm::Error::Store(e) if e.kind() == StoreErrorKind::NotFound => {
            t(lang, "not_found").to_owned()
        }
        crm::Error::Store(e)
            if matches!(e.kind(), StoreErrorKind::Unavailable | StoreErrorKind::Corrupt) =>
        {
            t(lang, "internal").to_owned()
        }
        crm::Error::Workflow(e) => describe_workflow(lang, e),
        crm::Error::Domain(DomainError::State(why)) => {
            format!("{} {}", t(lang, "refused"), reason_text(lang, why))
        }
        other => other.to_string(),
    }
}

impl Ctx {
    /// The error page of a failure, inside the usual layout.
    pub(crate) fn fail(&self, error: AppError) -> Response {
        self.fail_as(error, Hint::Customer)
    }

    /// Like [`Ctx::fail`], naming fields as those of the `hint` entity.
    pub(crate) fn fail_as(&self, error: AppError, hint: Hint) -> Response {
        let status = error.status();
        match &error {
            AppError::Internal(detail) => {
                tracing::error!(%detail, path = %self.path, "request failed");
            }
            AppError::Crm(e) if status.is_server_error() => {
                tracing::error!(error = %e, path = %self.path, "request failed");
            }
            _ => {}
        }
        let lang = self.lang;
        let body = html! {
            h1 { (t(lang, "error")) }
            div.notice.error role="alert" { (error.message(lang, hint)) }
            p {
                a.btn href="/customers" { (t(lang, "home")) }
            }
        };
        respond(status, layout(self, t(lang, "error"), Nav::None, body))
    }
}

/// The 404 page for every path no route knows.
pub(crate) async fn fallback(headers: axum::http::HeaderMap) -> Response {
    let lang = crate::auth::cookie(&headers, crate::auth::LANG_COOKIE)
        .and_then(|code| Lang::parse(&code))
        .unwrap_or_default();
    let body = html! {
        h1 { (t(lang, "error")) }
        div.notice.error role="alert" { (t(lang, "not_found")) }
        p { a.btn href="/customers" { (t(lang, "home")) } }
    };
    respond(StatusCode::NOT_FOUND, crate::html::bare(lang, t(lang, "error"), body))
}

/// Parses a record id from a path segment; anything else is a 404.
#[expect(clippy::result_large_err, reason = "the error is the page a handler returns at once")]
pub(crate) fn parse_id(ctx: &Ctx, segment: &str) -> Result<crm::RecordId, Response> {
    // Digits only: `u64` parsing alone would also take `+1`.
    match segment.bytes().all(|b| b.is_ascii_digit()) {
        true => segment.parse::<u64>().map(crm::RecordId).map_err(|_| ctx.fail(AppError::NotFound)),
        false => Err(ctx.fail(AppError::NotFound)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_follow_the_error_kind() {
        let not_found: crm::Error =
            DomainError::NotFound { kind: "customer".into(), id: crm::RecordId(9) }.into();
        assert_eq!(AppError::from(not_found).status(), StatusCode::NOT_FOUND);
        let cycle: crm::Error = DomainError::Cycle {
            kind: "customer".into(),
            child: crm::RecordId(1),
            parent: crm::RecordId(2),
        }
        .into();
        assert_eq!(AppError::from(cycle).status(), StatusCode::CONFLICT);
        let stale: crm::Error = crm::StoreError::conflict("stale").into();
        assert_eq!(AppError::from(stale).status(), StatusCode::CONFLICT);
        let invalid: crm::Error = DomainError::invalid("email", "bad").into();
        assert_eq!(AppError::from(invalid).status(), StatusCode::BAD_REQUEST);
        assert_eq!(AppError::Forbidden.status(), StatusCode::FORBIDDEN);
    }

    #[test]
    fn workflow_refusals_get_their_own_statuses() {
        use crm_workflow::{DefinitionError, TaskId};
        let decided: crm::Error =
            WorkflowError::from(ActionError::AlreadyDecided { task: TaskId(3) }).into();
        assert_eq!(AppError::from(decided).status(), StatusCode::CONFLICT);
        let not_mine: crm::Error =
            WorkflowError::from(ActionError::NotAssignee { task: TaskId(3) }).into();
        assert_eq!(AppError::from(not_mine).status(), StatusCode::CONFLICT);
        let stale: crm::Error = WorkflowError::from(crm::StoreError::conflict("stale")).into();
        assert_eq!(AppError::from(stale).status(), StatusCode::CONFLICT);
        let no_approver: crm::Error =
            WorkflowError::from(ActionError::NoApprover { node: "manager".into() }).into();
        let message = describe(Lang::En, &no_approver, Hint::Customer);
        assert!(message.contains("\"manager\""), "{message}");
        assert_eq!(AppError::from(no_approver).status(), StatusCode::BAD_REQUEST);
        let bad: crm::Error =
            WorkflowError::from(DefinitionError::NoApprovers { node: "boss".into() }).into();
        let message = describe(Lang::Zh, &bad, Hint::Customer);
        assert!(message.contains("流程定义有误") && message.contains("\"boss\""), "{message}");
        assert_eq!(AppError::from(bad).status(), StatusCode::BAD_REQUEST);
        let unknown: crm::Error = WorkflowError::UnknownInstance { id: crm::RecordId(9) }.into();
        assert_eq!(AppError::from(unknown).status(), StatusCode::NOT_FOUND);
        let missing: crm::Error =
            WorkflowError::UnknownDefinition { name: "x".into(), version: None }.into();
        assert_eq!(AppError::from(missing).status(), StatusCode::NOT_FOUND);
    }

    #[test]
    fn common_reasons_read_in_chinese() {
        assert_eq!(reason_text(Lang::Zh, "must be at most 1000000000"), "不能超过 1000000000");
        assert_eq!(reason_text(Lang::Zh, "longer than 200 characters"), "超过 200 个字符");
        assert_eq!(
            reason_text(Lang::Zh, "\"abc\" is not a three-letter currency code"),
            "\"abc\" 不是三位字母的币种代码"
        );
        assert_eq!(
            reason_text(Lang::Zh, "quote QT000002 is for another customer"),
            "报价单 QT000002 属于其他客户"
        );
        assert_eq!(reason_text(Lang::Zh, "something new"), "something new");
        assert_eq!(
            reason_text(Lang::Zh, "finance request EX000001 is approved and cannot be changed"),
            "费用申请EX000001 的状态为已通过，不能修改"
        );
        assert_eq!(
            reason_text(Lang::Zh, "only its author changes quote QT000002"),
            "只有填写人能修改报价单QT000002"
        );
        assert_eq!(
            reason_text(Lang::Zh, "\"婚假\" is not one of \"年假\", \"病假\""),
            "\"婚假\" 不是可选值之一（\"年假\", \"病假\"）"
        );
        assert_eq!(
            reason_text(
                Lang::Zh,
                "no workflow is bound to custom:3; an administrator must define one"
            ),
            "还没有绑定到custom:3的审批流程，请管理员先定义"
        );
        assert_eq!(
            reason_text(
                Lang::Zh,
                "no workflow is bound to form leave; an administrator must define one"
            ),
            "还没有绑定到表单 leave 的审批流程，请管理员先定义"
        );
        assert_eq!(
            reason_text(Lang::Zh, "\"Days\" is not a field name: use lowercase letters, digits and _, starting with a letter, at most 40 characters"),
            "\"Days\" 不是有效的字段名：请用小写字母、数字和下划线，以字母开头，最多 40 个字符"
        );
        assert_eq!(reason_text(Lang::Zh, "must be of kind decimal"), "必须是数值类型");
        assert_eq!(
            reason_text(Lang::Zh, "customer number \"C000012\" is already taken"),
            "客户编号 \"C000012\" 已被使用"
        );
        assert_eq!(match_sentence("{} is {}", "a is b is c"), Some(vec!["a is b", "c"]));
        assert_eq!(match_sentence("x {}", "x "), None);
        assert_eq!(match_sentence("only", "only more"), None);
        assert_eq!(reason_text(Lang::En, "must be one line"), "must be one line");
        // A pattern needs its value: the bare ends are not a match.
        assert_eq!(reason_text(Lang::Zh, " is not a number"), " is not a number");
    }

    #[test]
    fn messages_name_the_field_in_the_language() {
        let invalid: crm::Error = DomainError::invalid("email", "\"x\" is not an email").into();
        let zh = describe(Lang::Zh, &invalid, Hint::Customer);
        assert!(zh.contains("邮箱"), "{zh}");
        let en = describe(Lang::En, &invalid, Hint::Customer);
        assert!(en.contains("Email") && en.contains("is not an email"), "{en}");
        let empty: crm::Error = DomainError::invalid("amount", "cannot be left empty").into();
        assert!(describe(Lang::Zh, &empty, Hint::Request).ends_with("金额 — 不能为空"));
        assert!(describe(Lang::En, &empty, Hint::Request).ends_with("cannot be left empty"));
        let required: crm::Error = DomainError::Required { field: "contact.name".into() }.into();
        assert!(describe(Lang::Zh, &required, Hint::Customer).contains("联系人"));
    }
}
