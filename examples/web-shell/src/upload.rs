//! Multipart forms (the ones that carry files), read whole into texts and files, with the
//! CSRF token checked before anything else looks at them.

use axum::extract::multipart::{MultipartError, MultipartRejection};
use axum::extract::Multipart;
use axum::http::StatusCode;
use axum::response::Response;
use crm::NewAttachment;

use crate::auth::Ctx;
use crate::error::AppError;

/// A multipart form read whole: its text parts and its file parts, each in the order sent.
#[derive(Debug, Default)]
pub(crate) struct Upload {
    texts: Vec<(String, String)>,
    files: Vec<(String, NewAttachment)>,
}

impl Upload {
    /// The first text part called `name`; empty when there is none.
    pub(crate) fn text(&self, name: &str) -> &str {
        self.texts.iter().find(|(n, _)| n == name).map_or("", |(_, value)| value.as_str())
    }

    /// Every text part whose name starts with `prefix`, named without the prefix.
    pub(crate) fn texts_with_prefix(&self, prefix: &str) -> Vec<(String, String)> {
        self.texts
            .iter()
            .filter_map(|(name, value)| {
                name.strip_prefix(prefix).map(|rest| (rest.to_owned(), value.clone()))
            })
            .collect()
    }

    /// Takes the first file sent in the part called `name` (a second one is ignored).
    pub(crate) fn take_file(&mut self, name: &str) -> Option<NewAttachment> {
        let at = self.files.iter().position(|(n, _)| n == name)?;
        Some(self.files.remove(at).1)
    }

    /// Takes every file sent in parts called `name`.
    pub(crate) fn take_files(&mut self, name: &str) -> Vec<NewAttachment> {
        let (taken, kept) =
            std::mem::take(&mut self.files).into_iter().partition(|(n, _)| n == name);
        self.files = kept;
        taken.into_iter().map(|(_, file)| file).collect()
    }
}

/// The page for a multipart body that cannot be read: too large, or malformed.
pub(crate) fn failure(ctx: &Ctx, error: &MultipartError) -> Response {
    if error.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ctx.fail(AppError::TooLarge)
    } else {
        ctx.fail(AppError::BadRequest(error.body_text()))
    }
}

/// A multipart body as a handler takes it: a body that is not multipart at all is refused
/// with the shell's own error page, like any other bad request.
pub(crate) type Body = Result<Multipart, MultipartRejection>;

/// Reads a whole multipart form and checks its `csrf` part. A part sent with a file name is
/// a file; a file input left empty (no name, no content) is left out. Text parts must be
/// UTF-8.
pub(crate) async fn read(ctx: &Ctx, body: Body) -> Result<Upload, Response> {
    let mut multipart = body
        .map_err(|rejection| ctx.fail(crate::error::AppError::BadRequest(rejection.body_text())))?;
    let mut upload = Upload::default();
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => break,
            Err(e) => return Err(failure(ctx, &e)),
        };
        let name = field.name().unwrap_or_default().to_owned();
        // Some browsers send the file's whole path; the name is its last part.
        let file_name =
            field.file_name().map(|n| n.rsplit(['/', '\\']).next().unwrap_or(n).to_owned());
        if let Some(file_name) = file_name {
            let content_type = field.content_type().unwrap_or_default().to_owned();
            let bytes = field.bytes().await.map_err(|e| failure(ctx, &e))?;
            if !(file_name.is_empty() && bytes.is_empty()) {
                let file = NewAttachment { file_name, content_type, bytes: bytes.to_vec() };
                upload.files.push((name, file));
            }
            continue;
        }
        let text = field.text().await.map_err(|e| failure(ctx, &e))?;
        upload.texts.push((name, text));
    }
    ctx.check_csrf(upload.text("csrf"))?;
    Ok(upload)
}
