//! What every CSV download shares: whether the client asked for CSV, cells that a
//! spreadsheet will not run as formulas, and a download streamed a page at a time.

use std::future::Future;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse};
use bytes::Bytes;

use super::ApiError;

/// Whether the request's `Accept` asks for `text/csv`.
pub fn wants_csv(req: &HttpRequest) -> bool {
    req.headers().get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|v| v.contains("text/csv"))
}

/// A cell a spreadsheet would run as a formula is prefixed with a quote (CSV
/// injection); everything else is as is.
pub fn neutralise(cell: &str) -> String {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) { format!("'{cell}") } else { cell.to_string() }
}

/// A CSV download streamed a page at a time, never held whole: UTF-8 with a byte order
/// mark (so that spreadsheets read it right), the header row, then for each cursor,
/// starting at `first`, the lines `page` writes and the cursor of the page after it
/// (`None` after the last). An error ends the download where it happens.
pub fn paged_download<C, P, F>(filename: &str, header_row: &'static [&'static str], first: C, page: P) -> HttpResponse
where
    C: 'static,
    P: Fn(C) -> F + 'static,
    F: Future<Output = Result<(Vec<u8>, Option<C>), ApiError>> + 'static,
{
    enum Step<C> {
        Header(C),
        Page(C),
        Done,
    }
    let body = futures_util::stream::unfold((Step::Header(first), page), move |(step, page)| async move {
        match step {
            Step::Done => None,
            Step::Header(cursor) => {
                let mut writer = csv::Writer::from_writer("\u{feff}".as_bytes().to_vec());
                let head = writer
                    .write_record(header_row)
                    .map_err(ApiError::internal)
                    .and_then(|()| writer.into_inner().map_err(|e| ApiError::internal(e.to_string())));
                match head {
                    Ok(head) => Some((Ok(Bytes::from(head)), (Step::Page(cursor), page))),
                    Err(e) => Some((Err(e), (Step::Done, page))),
                }
            }
            Step::Page(cursor) => match page(cursor).await {
                Ok((lines, next)) => Some((Ok(Bytes::from(lines)), (next.map_or(Step::Done, Step::Page), page))),
                Err(e) => Some((Err(e), (Step::Done, page))),
            },
        }
    });
    HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((header::CONTENT_DISPOSITION, format!("attachment; filename=\"{filename}\"")))
        .streaming(body)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn formulas_are_neutralised() {
        assert_eq!(neutralise("=1+1"), "'=1+1");
        assert_eq!(neutralise("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(neutralise("王小明"), "王小明");
    }
}
