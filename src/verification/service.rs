//! Verification as the process starts it: its routes and the common app data.

use crate::app::{ServiceParts, Setup, StartError, upstream_parts};

pub fn parts(setup: &Setup<'_>) -> Result<ServiceParts, StartError> {
    upstream_parts(setup, super::routes::configure)
}
