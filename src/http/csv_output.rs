//! What every CSV download shares: whether the client asked for CSV, and cells that a
//! spreadsheet will not run as formulas.

use actix_web::HttpRequest;
use actix_web::http::header;

/// Whether the request's `Accept` asks for `text/csv`.
pub fn wants_csv(req: &HttpRequest) -> bool {
    req.headers().get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|v| v.contains("text/csv"))
}

/// A cell a spreadsheet would run as a formula is prefixed with a quote (CSV
/// injection); everything else is as is.
pub fn neutralise(cell: &str) -> String {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) { format!("'{cell}") } else { cell.to_string() }
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
