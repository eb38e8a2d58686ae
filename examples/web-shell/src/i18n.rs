//! The two languages the shell speaks, Chinese (the default) and English, and the table of
//! every label it shows. Field labels come from the entity descriptions instead, so a field
//! is named the same way in forms, imports and error messages.

use crm::{Entity, LeadStatus};

/// A display language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lang {
    /// Simplified Chinese.
    #[default]
    Zh,
    /// English.
    En,
}

impl Lang {
    /// The short code kept in cookies and forms.
    pub fn code(self) -> &'static str {
        match self {
            Lang::Zh => "zh",
            Lang::En => "en",
        }
    }

    /// Parses a short code.
    pub fn parse(code: &str) -> Option<Self> {
        match code.trim() {
            "zh" | "zh-CN" => Some(Lang::Zh),
            "en" => Some(Lang::En),
            _ => None,
        }
    }

    /// The value of the `lang` attribute of the page.
    pub fn html_lang(self) -> &'static str {
        match self {
            Lang::Zh => "zh-CN",
            Lang::En => "en",
        }
    }

    /// The other language, offered by the switch in the top bar.
    pub fn other(self) -> Self {
        match self {
            Lang::Zh => Lang::En,
            Lang::En => Lang::Zh,
        }
    }

    /// The language of spreadsheet headers in exports.
    pub fn io(self) -> crm::Lang {
        match self {
            Lang::Zh => crm::Lang::Zh,
            Lang::En => crm::Lang::En,
        }
    }

    fn pick(self, zh: &'static str, en: &'static str) -> &'static str {
        match self {
            Lang::Zh => zh,
            Lang::En => en,
        }
    }
}

/// The label for `key` in `lang`. An unknown key is a bug: it trips a debug assertion and
/// shows the key itself in release builds.
pub fn t(lang: Lang, key: &'static str) -> &'static str {
    match entry(key) {
        Some((zh, en)) => lang.pick(zh, en),
        None => {
            debug_assert!(false, "no translation for {key:?}");
            key
        }
    }
}

fn entry(key: &str) -> Option<(&'static str, &'static str)> {
    Some(match key {
        "app_name" => ("客户管理系统", "CRM"),
        "customers" => ("客户", "Customers"),
        "leads" => ("潜在客户", "Leads"),
        "import_export" => ("导入导出", "Import & export"),
        "settings" => ("系统设置", "Settings"),
        "logout" => ("退出登录", "Sign out"),
        "login" => ("登录", "Sign in"),
        "login_title" => ("登录客户管理系统", "Sign in to the CRM"),
        "login_name" => ("登录名", "Login"),
        "password" => ("密码", "Password"),
        "login_failed" => ("登录名或密码不正确。", "The login or password is incorrect."),
        "switch_to" => ("English", "中文"),
        "search" => ("搜索", "Search"),
        "search_placeholder" => {
            ("名称、编号、电话、邮箱或联系人", "Name, code, phone, email or contact")
        }
        "lead_search_placeholder" => ("姓名、公司、电话或邮箱", "Name, company, phone or email"),
        "all" => ("全部", "All"),
        "sort" => ("排序", "Sort"),
        "sort_name" => ("名称 A→Z", "Name A→Z"),
        "sort_name_desc" => ("名称 Z→A", "Name Z→A"),
        "sort_newest" => ("最新创建", "Newest first"),
        "sort_oldest" => ("最早创建", "Oldest first"),
        "sort_updated" => ("最近更新", "Recently updated"),
        "sort_code" => ("客户编号", "Customer code"),
        "reset" => ("重置", "Reset"),
        "prev" => ("上一页", "Previous"),
        "next" => ("下一页", "Next"),
        "new_customer" => ("新建客户", "New customer"),
        "edit_customer" => ("编辑客户", "Edit customer"),
        "delete_customer" => ("删除客户", "Delete customer"),
        "edit" => ("编辑", "Edit"),
        "delete" => ("删除", "Delete"),
        "save" => ("保存", "Save"),
        "create" => ("创建", "Create"),
        "cancel" => ("取消", "Cancel"),
        "status_private" => ("私有", "Private"),
        "status_pool" => ("公海", "Pool"),
        "no_results" => ("没有找到匹配的记录。", "No matching records."),
        "profile" => ("基本资料", "Profile"),
        "contacts" => ("联系人", "Contacts"),
        "no_contacts" => ("还没有联系人。", "No contacts yet."),
        "relatives" => ("亲友", "Relatives & friends"),
        "add_contact" => ("添加联系人", "Add contact"),
        "edit_contact" => ("编辑联系人", "Edit contact"),
        "add_relative" => ("添加亲友", "Add relative or friend"),
        "hierarchy" => ("上下级关系", "Hierarchy"),
        "parent" => ("上级客户", "Parent customer"),
        "children" => ("下级客户", "Child customers"),
        "none" => ("无", "None"),
        "set_parent" => ("设置上级", "Set parent"),
        "clear_parent" => ("清除上级", "Clear parent"),
        "parent_hint" => ("上级客户的编号或 ID", "Parent's customer code or id"),
        "interactions" => ("联系记录", "Contact records"),
        "no_interactions" => ("还没有联系记录。", "No contact records yet."),
        "history" => ("变更记录", "Change history"),
        "no_history" => ("没有变更记录。", "No changes recorded."),
        "when" => ("时间", "When"),
        "who" => ("操作人", "By"),
        "action" => ("操作", "Action"),
        "field" => ("字段", "Field"),
        "change" => ("变更", "Change"),
        "action_create" => ("创建", "Created"),
        "action_update" => ("修改", "Changed"),
        "action_delete" => ("删除", "Deleted"),
        "confirm_delete_customer" => (
            "确定要删除这个客户吗？它的联系人及其亲友会一并删除，且无法恢复。",
            "Delete this customer? Its contacts and their relatives are deleted too; this \
             cannot be undone.",
        ),
        "confirm_delete_lead" => (
            "确定要删除这个潜在客户吗？它的联系记录和附件会一并删除，且无法恢复。",
            "Delete this lead? Its contact records and attachments are deleted too; this \
             cannot be undone.",
        ),
        "new_lead" => ("新建潜在客户", "New lead"),
        "edit_lead" => ("编辑潜在客户", "Edit lead"),
        "delete_lead" => ("删除潜在客户", "Delete lead"),
        "convert" => ("转为客户", "Convert to customer"),
        "converted_to" => ("已转化为客户：", "Converted to customer:"),
        "converted_readonly" => (
            "这个潜在客户已转化为客户，只能查看。",
            "This lead was converted into a customer and is read-only.",
        ),
        "add_interaction" => ("添加联系记录", "Add contact record"),
        "attachments" => ("附件", "Attachments"),
        "files" => ("附件文件", "Files"),
        "files_hint" => ("可选，单个文件不超过 20 MiB", "Optional, at most 20 MiB each"),
        "time_hint" => ("UTC 时间，留空为现在", "UTC; empty means now"),
        "lead_status_new" => ("新线索", "New"),
        "lead_status_contacted" => ("已联系", "Contacted"),
        "lead_status_qualified" => ("已确认", "Qualified"),
        "lead_status_converted" => ("已转化", "Converted"),
        "lead_status_lost" => ("已放弃", "Lost"),
        "import" => ("导入", "Import"),
        "export" => ("导出", "Export"),
        "import_title" => ("从 Excel 或 CSV 导入", "Import from Excel or CSV"),
        "import_hint" => (
            "第一行为表头，可用中文或英文字段名。任何一行有错误时不会保存任何数据。",
            "The first row holds the headers, in Chinese or English. If any row is wrong, \
             nothing is stored.",
        ),
        "import_into" => ("导入到", "Import into"),
        "file" => ("文件", "File"),
        "dry_run" => ("试运行（只检查，不保存）", "Dry run (check only, store nothing)"),
        "upload" => ("上传并导入", "Upload and import"),
        "import_failed" => (
            "导入被拒绝：以下行有错误，没有保存任何数据。",
            "Import refused: the rows below are wrong, and nothing was stored.",
        ),
        "import_dry_ok" => {
            ("试运行通过，没有保存任何数据。", "Dry run passed; nothing was stored.")
        }
        "import_ok" => ("导入完成。", "Import finished."),
        "records_created" => ("记录数", "Records"),
        "contacts_created" => ("联系人数", "Contacts"),
        "warnings" => ("提示", "Warnings"),
        "row" => ("行", "Row"),
        "column" => ("列", "Column"),
        "reason" => ("原因", "Reason"),
        "export_title" => ("导出客户", "Export customers"),
        "export_xlsx" => ("导出客户（Excel）", "Export customers (Excel)"),
        "export_csv" => ("导出客户（CSV）", "Export customers (CSV)"),
        "error" => ("出错了", "Something went wrong"),
        "not_found" => ("找不到该页面或记录。", "The page or record was not found."),
        "forbidden_form" => (
            "请求被拒绝：表单已过期或无效。请刷新页面后重试。",
            "The request was refused: the form expired or is not valid. Reload the page and \
             try again.",
        ),
        "conflict" => (
            "这条记录已被其他人修改。请重新加载页面，再做修改。",
            "Someone else changed this record first. Reload the page and make your change \
             again.",
        ),
        "too_large" => (
            "提交的内容太大（表单上限 1 MiB，附件上限 20 MiB）。",
            "The upload is too large (forms 1 MiB, attached files 20 MiB at most).",
        ),
        "internal" => ("服务器内部错误，请稍后再试。", "Internal error; please try again later."),
        "bad_request" => ("请求无效。", "The request is not valid."),
        "back" => ("返回", "Back"),
        "reload" => ("重新加载", "Reload"),
        "home" => ("首页", "Home"),
        "ok_saved" => ("已保存。", "Saved."),
        "ok_created" => ("已创建。", "Created."),
        "ok_deleted" => ("已删除。", "Deleted."),
        "ok_converted" => ("已由潜在客户转化为客户。", "Converted from a lead."),
        "ok_recorded" => ("已添加联系记录。", "Contact record added."),
        "signed_in_as" => ("当前用户", "Signed in as"),
        "owner" => ("负责人", "Owner"),
        "code_hint" => ("留空自动编号", "Empty for the next number"),
        "customer_sources" => ("客户来源", "Customer sources"),
        "customer_categories" => ("客户类别", "Customer categories"),
        "code" => ("编码", "Code"),
        "name" => ("名称", "Name"),
        "order" => ("排序", "Order"),
        "add" => ("添加", "Add"),
        "admin_only" => ("只有管理员可以修改设置。", "Only administrators change settings."),
        "bad_date" => ("日期格式应为 YYYY-MM-DD。", "Dates are written YYYY-MM-DD."),
        "bad_time" => ("时间格式应为 YYYY-MM-DD HH:MM。", "Times are written YYYY-MM-DD HH:MM."),
        "bad_effect" => ("效果评分必须是 1 到 5。", "The effect score must be 1 to 5."),
        "bad_format" => ("请上传 .xlsx 或 .csv 文件。", "Upload a .xlsx or .csv file."),
        "no_file" => ("请选择要上传的文件。", "Choose a file to upload."),
        "parent_unknown" => ("找不到这个编号或 ID 的客户：", "No customer has this code or id:"),
        "cycle" => (
            "不能这样设置上级：所选客户是本客户自己或它的下级，会形成循环。",
            "This parent is not allowed: the chosen customer is this customer or one of its \
             descendants, which would make a cycle.",
        ),
        "in_use" => ("仍有记录在使用，不能删除：", "Still in use, so it cannot be deleted:"),
        "invalid_field" => ("字段填写有误：", "A field is not valid:"),
        "required_field" => ("必填字段为空：", "A required field is empty:"),
        "permission_denied" => ("没有权限：", "Permission denied:"),
        "total" => ("共", "Total"),
        "records" => ("条", "records"),
        "page" => ("页", "Page"),
        "effect_label" => ("效果", "Effect"),
        "effect_1" => ("1 无效果", "1 no effect"),
        "effect_2" => ("2 较差", "2 poor"),
        "effect_3" => ("3 一般", "3 fair"),
        "effect_4" => ("4 良好", "4 good"),
        "effect_5" => ("5 很好", "5 excellent"),
        "download" => ("下载", "Download"),
        "yes_delete" => ("确认删除", "Yes, delete"),
        "danger_zone" => ("危险操作", "Danger zone"),
        "refused" => ("操作被拒绝：", "Refused:"),
        "todo" => ("待办事宜", "To-do"),
        "workflows" => ("审批流程", "Workflows"),
        "open_tasks" => ("待我审批", "Waiting for me"),
        "done_tasks" => ("我已处理", "Decided by me"),
        "no_open_tasks" => ("没有待办任务。", "Nothing waits for you."),
        "no_done_tasks" => ("还没有处理过任务。", "You have decided nothing yet."),
        "overdue" => ("超过三天未处理", "Open for more than three days"),
        "node" => ("节点", "Step"),
        "record" => ("单据", "Record"),
        "submitter" => ("提交人", "Submitted by"),
        "age" => ("等待时长", "Waiting"),
        "decided_at" => ("处理时间", "Decided"),
        "result" => ("结果", "Result"),
        "open" => ("打开", "Open"),
        "request" => ("申请", "Request"),
        "assignment_request" => ("客户分配申请", "Customer assignment request"),
        "request_assignment" => ("申请分配", "Request assignment"),
        "request_assignment_hint" => (
            "申请成为这个客户的负责人，提交后由审批流程决定。",
            "Ask to become this customer's owner; the approval flow decides.",
        ),
        "request_reason" => ("申请理由", "Reason"),
        "customer_id" => ("客户 ID", "Customer id"),
        "submit" => ("提交", "Submit"),
        "instance_title" => ("审批单", "Approval request"),
        "wf_status" => ("审批状态", "Approval status"),
        "wf_status_pending" => ("审批中", "Pending"),
        "wf_status_approved" => ("已通过", "Approved"),
        "wf_status_rejected" => ("已驳回", "Rejected"),
        "wf_status_withdrawn" => ("已撤回", "Withdrawn"),
        "request_fields" => ("申请内容", "Request"),
        "no_visible_fields" => {
            ("您的节点不能查看申请内容。", "Your step may not see the request's fields.")
        }
        "tasks" => ("审批任务", "Tasks"),
        "assignee" => ("处理人", "Assignee"),
        "event_log" => ("审批记录", "History"),
        "comment" => ("意见", "Comment"),
        "comments" => ("评论", "Comments"),
        "your_decision" => ("您的审批", "Your decision"),
        "approve" => ("同意", "Approve"),
        "reject" => ("驳回", "Reject"),
        "return_to" => ("退回到", "Return to"),
        "return_button" => ("退回", "Return"),
        "withdraw" => ("撤回申请", "Withdraw"),
        "resubmit" => ("重新提交", "Resubmit"),
        "add_comment" => ("发表评论", "Add comment"),
        "ev_submitted" => ("提交了申请", "submitted the request"),
        "ev_resubmitted" => ("重新提交了申请", "resubmitted the request"),
        "ev_node_activated" => ("流转到节点", "moved to step"),
        "ev_branch_taken" => ("条件分支选择", "branch chosen at"),
        "ev_notified" => ("通知了", "notified at"),
        "ev_approved" => ("同意", "approved"),
        "ev_rejected" => ("驳回", "rejected"),
        "ev_returned" => ("退回到", "returned it to"),
        "ev_withdrawn" => ("撤回了申请", "withdrew the request"),
        "ev_reassigned" => ("转交给", "handed the task to"),
        "ev_commented" => ("评论", "commented"),
        "ev_attachment_added" => ("添加附件", "attached"),
        "task_status" => ("任务状态", "Task status"),
        "definitions" => ("流程定义", "Flow definitions"),
        "no_definitions" => ("还没有定义审批流程。", "No approval flow is defined yet."),
        "version" => ("版本", "Version"),
        "title" => ("标题", "Title"),
        "form" => ("表单", "Form"),
        "created" => ("创建时间", "Created"),
        "define" => ("定义新版本", "Define a new version"),
        "define_hint" => (
            "粘贴或上传 TOML / JSON 格式的流程定义；同名定义会保存为新版本。",
            "Paste or upload a definition in TOML or JSON; a known name becomes a new version.",
        ),
        "definition_text" => ("定义内容", "Definition"),
        "definition_file" => ("或上传文件", "Or upload a file"),
        "diagram" => ("流程图", "Diagram"),
        "admin_defines" => ("只有管理员可以定义审批流程。", "Only administrators define flows."),
        "ok_approved" => ("已同意。", "Approved."),
        "ok_rejected" => ("已驳回。", "Rejected."),
        "ok_returned" => ("已退回。", "Returned."),
        "ok_withdrawn" => ("已撤回。", "Withdrawn."),
        "ok_resubmitted" => ("已重新提交。", "Resubmitted."),
        "ok_commented" => ("已发表评论。", "Comment added."),
        "ok_requested" => ("申请已提交，等待审批。", "Request submitted for approval."),
        "ok_defined" => ("流程定义已保存。", "Definition saved."),
        "ok_attached" => ("附件已上传。", "File attached."),
        "ok_reassigned" => ("任务已转交。", "Task reassigned."),
        "wf_files" => ("申请附件", "Attached files"),
        "wf_no_files" => ("还没有附件。", "No file is attached yet."),
        "wf_attach_file" => ("上传附件", "Attach a file"),
        "wf_attach_hint" => (
            "单个文件不超过 20 MiB；参与审批的人都可以下载。",
            "At most 20 MiB; everyone taking part can download it.",
        ),
        "wf_attach_button" => ("上传", "Upload"),
        "fin_unit" => ("为哪个部门申请", "Unit the request is for"),
        "fin_for_unit" => ("部门:", "For"),
        "sales" => ("报价与合同", "Quotes & contracts"),
        "quotes" => ("报价单", "Quotes"),
        "contracts" => ("合同", "Contracts"),
        "new_quote" => ("新建报价单", "New quote"),
        "new_contract" => ("新建合同", "New contract"),
        "sales_customer_hint" => ("填写客户 ID（客户页地址中的数字）", "The customer's id (the number in its page address)"),
        "quote_lines" => ("报价明细", "Lines"),
        "quote_lines_hint" => (
            "每行一个产品;留空的行不计。总金额按数量 × 单价减折扣自动计算。",
            "One product per row; empty rows are ignored. The total is quantity × unit price less the discount.",
        ),
        "form_quote" => ("报价单", "Quote"),
        "form_contract" => ("合同", "Contract"),
        "quote_product" => ("产品", "Product"),
        "quote_quantity" => ("数量", "Quantity"),
        "quote_unit_price" => ("单价", "Unit price"),
        "quote_discount" => ("折扣", "Discount"),
        "quote_line_amount" => ("金额", "Amount"),
        "wf_editable_fields" => ("审批时可修改的字段", "Fields you may change"),
        "wf_editable_hint" => (
            "修改后点“同意”才会保存;驳回或退回时不保存修改。",
            "Changes are saved only when you approve; rejecting or returning keeps the request as it is.",
        ),
        "wf_changed" => ("修改了", "changed"),
        "wf_open_entry" => ("查看表单记录", "Open the entry"),
        "wf_not_utf8" => ("文件不是 UTF-8 文本。", "The file is not UTF-8 text."),
        "wf_no_file" => ("请选择要上传的文件。", "Choose a file to upload."),
        "wf_reassign" => ("转交任务", "Reassign a task"),
        "wf_reassign_hint" => (
            "把尚未处理的任务交给另一位在职用户处理。",
            "Hand an undecided task to another active user.",
        ),
        "wf_task" => ("任务", "Task"),
        "wf_reassign_to" => ("转交给", "Hand to"),
        "wf_reassign_button" => ("转交", "Reassign"),
        "wf_not_participant" => (
            "只有参与这个申请的人才能这样做。",
            "Only people taking part in this request may do that.",
        ),
        "no_assignment_flow" => (
            "还没有用于客户分配的审批流程，请联系管理员先定义一个。",
            "No approval flow handles customer assignments yet; ask an administrator to define \
             one.",
        ),
        "wf_bad_definition" => ("流程定义有误：", "The definition is not valid:"),
        "wf_already_decided" => ("该任务已经处理过了。", "This task is already decided."),
        "wf_not_assignee" => ("这个任务不由您处理。", "This task is not assigned to you."),
        "wf_not_your_turn" => ("还没轮到您审批。", "It is not your turn yet."),
        "wf_withdraw_after_decision" => (
            "已有审批人处理过，不能再撤回。",
            "An approver has already decided, so the request can no longer be withdrawn.",
        ),
        "wf_not_submitter" => (
            "只有申请人才能这样做。",
            "Only the person who submitted the request may do that.",
        ),
        "wf_unknown_user" => ("没有这个用户:", "There is no such user:"),
        "wf_bad_comment" => ("意见无法保存:", "The comment cannot be stored:"),
        "wf_cannot_return" => ("不能退回到该节点：", "Cannot return there:"),
        "wf_wrong_status" => {
            ("申请当前的状态不允许这个操作。", "The request's status does not allow this.")
        }
        "wf_empty" => ("内容不能为空。", "The text is empty."),
        "wf_refused" => ("审批操作被拒绝。", "The approval action was refused."),
        "wf_unknown_definition" => ("找不到该审批流程。", "No such approval flow."),
        "wf_already_pending" => {
            ("该记录已有审批在进行中。", "This record already has a pending approval.")
        }
        "wf_stale" => (
            "其他人刚刚处理了这个申请。请重新加载页面。",
            "Someone else acted on this request first. Reload the page.",
        ),
        "requests" => ("财务申请", "Requests"),
        "fin_new_expense" => ("新建费用申请", "New expense request"),
        "fin_new_reimbursement" => ("新建报销申请", "New reimbursement"),
        "fin_new_loan" => ("新建借款申请", "New loan request"),
        "fin_edit" => ("编辑申请", "Edit request"),
        "fin_status_draft" => ("草稿", "Draft"),
        "fin_submit" => ("提交审批", "Submit for approval"),
        "fin_view_approval" => ("查看审批", "View approval"),
        "fin_not_submitted" => ("尚未提交", "Not submitted yet"),
        "fin_amount_hint" => {
            ("如 1200 或 1,200.50，最多两位小数", "Such as 1200 or 1,200.50; two decimals at most")
        }
        "fin_currency_hint" => ("三位字母代码，留空为 CNY", "Three letters; empty means CNY"),
        "fin_customer_hint" => ("可选，填写客户 ID", "Optional; the customer's id"),
        "bad_amount" => (
            "金额应为数字，如 1200 或 1,200.50。",
            "Write the amount as a number, such as 1200 or 1,200.50.",
        ),
        "bad_number" => ("应为数字,例如 12 或 1,200.50。", "Write a number, such as 12 or 1,200.50."),
        "bad_record_id" => ("编号应为数字。", "The id is a number."),
        "quote_lines_mismatch" => (
            "报价明细的各列数量不一致,请从页面重新提交。",
            "The line columns do not match up; submit the form from the page again.",
        ),
        "bad_customer_id" => ("客户 ID 应为数字。", "The customer id is a number."),
        "fin_no_flow" => (
            "还没有用于这类申请的审批流程，请联系管理员先定义一个。",
            "No approval flow handles this kind of request yet; ask an administrator to define \
             one.",
        ),
        "forms" => ("表单", "Forms"),
        "fm_title" => ("自定义表单", "Forms"),
        "fm_new_form" => ("新建表单", "New form"),
        "fm_edit_form" => ("编辑表单", "Edit form"),
        "fm_no_forms" => ("还没有表单。", "No form is defined yet."),
        "fm_name" => ("表单名称", "Form name"),
        "fm_field_count" => ("字段数", "Fields"),
        "fm_entries" => ("填写记录", "Entries"),
        "fm_new_entry" => ("填写新记录", "New entry"),
        "fm_edit_entry" => ("编辑记录", "Edit entry"),
        "fm_retired" => ("已停用", "Retired"),
        "fm_retire" => ("停用表单", "Retire the form"),
        "fm_bring_back" => ("恢复启用", "Bring the form back"),
        "fm_retire_hint" => (
            "停用的表单不再接受新的填写，已有记录保留，仍可继续审批。",
            "A retired form takes no new entries; its entries stay and may still go through \
             approval.",
        ),
        "fm_retired_now" => (
            "该表单已停用，不再接受新的填写。",
            "This form is retired and takes no new entries.",
        ),
        "fm_admin_only" => (
            "只有管理员可以定义和修改表单。",
            "Only administrators define and change forms.",
        ),
        "fm_key_hint" => (
            "小写字母、数字和下划线，以字母开头；定义后不能更改",
            "Lowercase letters, digits and _, starting with a letter; it cannot change later",
        ),
        "fm_fields" => ("字段", "Fields"),
        "fm_fields_hint" => (
            "每行一个字段，字段名留空的行不保存。字段名是审批流程条件里使用的名称，定义后请勿随意更改。",
            "One field per row; rows without a name are dropped. Workflow conditions use the \
             field names, so keep them once entries exist.",
        ),
        "fm_field" => ("字段", "Field"),
        "fm_field_name" => ("字段名", "Name"),
        "fm_label_zh" => ("中文标签", "Chinese label"),
        "fm_label_en" => ("英文标签", "English label"),
        "fm_kind" => ("类型", "Kind"),
        "fm_required" => ("必填", "Required"),
        "fm_choices" => ("选项", "Choices"),
        "fm_choices_hint" => (
            "仅下拉选择使用：用换行、逗号或顿号分隔",
            "Pick lists only: separated by line breaks, commas or 、",
        ),
        "fm_kind_text" => ("单行文本", "Text"),
        "fm_kind_textarea" => ("多行文本", "Multi-line text"),
        "fm_kind_integer" => ("整数", "Whole number"),
        "fm_kind_decimal" => ("小数", "Decimal number"),
        "fm_kind_date" => ("日期", "Date"),
        "fm_kind_bool" => ("是 / 否", "Yes / no"),
        "fm_kind_choice" => ("下拉选择", "Pick list"),
        "fm_unknown_kind" => ("不是已知的字段类型", "is not a known field kind"),
        "fm_yes" => ("是", "Yes"),
        "fm_no" => ("否", "No"),
        "fm_required_hint" => ("带 * 的字段必填。", "Fields marked * are required."),
        _ => return None,
    })
}

/// The label of a declared field of entity `E` in `lang`; the field name itself when the
/// description does not declare it.
pub fn field_label<E: Entity>(lang: Lang, field: &str) -> String {
    match E::desc().field(field) {
        Some(f) => match lang {
            Lang::Zh => f.label.zh.clone(),
            Lang::En => f.label.en.clone(),
        },
        None => field.to_owned(),
    }
}

/// The label of a lead status.
pub fn lead_status(lang: Lang, status: LeadStatus) -> &'static str {
    let key = match status {
        LeadStatus::New => "lead_status_new",
        LeadStatus::Contacted => "lead_status_contacted",
        LeadStatus::Qualified => "lead_status_qualified",
        LeadStatus::Converted => "lead_status_converted",
        LeadStatus::Lost => "lead_status_lost",
    };
    t(lang, key)
}

/// The label of a customer status.
pub fn customer_status(lang: Lang, status: crm::CustomerStatus) -> &'static str {
    match status {
        crm::CustomerStatus::Private => t(lang, "status_private"),
        crm::CustomerStatus::Pool => t(lang, "status_pool"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_languages_differ_and_parse_back() {
        assert_eq!(t(Lang::Zh, "customers"), "客户");
        assert_eq!(t(Lang::En, "customers"), "Customers");
        assert_eq!(Lang::parse("en"), Some(Lang::En));
        assert_eq!(Lang::parse("zh"), Some(Lang::Zh));
        assert_eq!(Lang::parse("fr"), None);
        assert_eq!(Lang::Zh.other(), Lang::En);
    }

    #[test]
    fn field_labels_come_from_descriptions() {
        assert_eq!(field_label::<crm::Customer>(Lang::Zh, "name"), "客户名称");
        assert_eq!(field_label::<crm::Customer>(Lang::En, "name"), "Name");
        assert_eq!(field_label::<crm::Customer>(Lang::En, "nope"), "nope");
    }
}
