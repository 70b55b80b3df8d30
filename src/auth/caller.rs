//! The authenticated caller of a request, extracted from its bearer token.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, web};

use super::{AuthError, Role};
use crate::auth::Authenticator;
use crate::domain::ClientId;
use crate::http::ApiError;

/// Who is calling: the API client, its role and its scopes.
#[derive(Debug, Clone)]
pub struct Caller {
    pub client_id: ClientId,
    pub role: Role,
    pub scopes: Vec<String>,
}

impl Caller {
    /// Refuses with 403 unless the caller has one of `roles`.
    pub fn require(&self, roles: &[Role]) -> Result<(), ApiError> {
        if roles.contains(&self.role) {
            Ok(())
        } else {
            Err(ApiError::forbidden("role_not_allowed", format!("role {} may not do this", self.role.as_str())))
        }
    }

    /// Whether the caller may see data of `county_code`: province-wide roles see every
    /// county, a county office only its own.
    pub fn may_see_county(&self, county_code: &str) -> bool {
        match self.role {
            Role::ProvincialAdmin | Role::Auditor => true,
            Role::CountyOffice => self.scopes.iter().any(|s| s == county_code),
            _ => false,
        }
    }
}

fn bearer(req: &HttpRequest) -> Result<String, AuthError> {
    let value = req.headers().get(header::AUTHORIZATION).ok_or(AuthError::Missing)?;
    let value = value.to_str().map_err(|_| AuthError::MalformedHeader)?;
    let (scheme, token) = value.split_once(' ').ok_or(AuthError::MalformedHeader)?;
    let token = token.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() || token.len() > 8192 {
        return Err(AuthError::MalformedHeader);
    }
    Ok(token.to_string())
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Caller, ApiError>>>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        let auth = req.app_data::<web::Data<Authenticator>>().cloned();
        let token = bearer(req);
        Box::pin(async move {
            let auth = auth.ok_or_else(|| ApiError::internal("authenticator not configured"))?;
            let token = token?;
            let caller = auth.authenticate(&token).await?;
            // The request span (see `http::request_id`) names who is calling from here on.
            tracing::Span::current().record("client_id", caller.client_id.as_str());
            Ok(caller)
        })
    }
}
