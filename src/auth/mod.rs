//! Authentication and authorisation: roles, token claims, signing (gateway), verifying
//! (every service, against the gateway's JWKS), revocation, and the `Caller` extractor.

mod caller;
pub mod keys;
pub mod revocation;
mod verify;

pub use caller::Caller;
pub use keys::SigningKeys;
pub use revocation::RevocationSet;
pub use verify::{AuthError, TokenVerifier};

use serde::{Deserialize, Serialize};

use crate::domain::ClientId;

/// What an API client is allowed to do (DOMAIN.md section 6), plus `service` for our
/// own services talking to each other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    CountyOffice,
    RegistryAdmin,
    ProvincialAdmin,
    CardMaker,
    Clinic,
    Bank,
    Auditor,
    Service,
}

impl Role {
    /// Roles an API client can be created with.
    pub const CLIENT_ROLES: [Role; 7] = [
        Role::CountyOffice,
        Role::RegistryAdmin,
        Role::ProvincialAdmin,
        Role::CardMaker,
        Role::Clinic,
        Role::Bank,
        Role::Auditor,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::CountyOffice => "county_office",
            Role::RegistryAdmin => "registry_admin",
            Role::ProvincialAdmin => "provincial_admin",
            Role::CardMaker => "card_maker",
            Role::Clinic => "clinic",
            Role::Bank => "bank",
            Role::Auditor => "auditor",
            Role::Service => "service",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Role::CLIENT_ROLES.into_iter().chain([Role::Service]).find(|r| r.as_str() == s)
    }
}

/// The claims of an access token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub aud: String,
    /// The API client id.
    pub sub: ClientId,
    pub role: Role,
    /// County codes, an institution code or a card maker code, by role.
    #[serde(default)]
    pub scopes: Vec<String>,
    pub iat: u64,
    pub exp: u64,
    pub jti: String,
}

/// Verifies tokens and refuses revoked clients.
pub struct Authenticator {
    pub verifier: TokenVerifier,
    pub revoked: RevocationSet,
}

impl Authenticator {
    pub fn new(verifier: TokenVerifier) -> Self {
        Authenticator { verifier, revoked: RevocationSet::default() }
    }

    /// The caller a token stands for, or why it is refused.
    pub async fn authenticate(&self, token: &str) -> Result<Caller, AuthError> {
        let claims = self.verifier.verify(token).await?;
        if self.revoked.contains(&claims.sub) {
            return Err(AuthError::Revoked);
        }
        Ok(Caller { client_id: claims.sub, role: claims.role, scopes: claims.scopes })
    }
}
