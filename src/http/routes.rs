//! A route table that registers handlers and remembers what it registered, so the
//! OpenAPI document can be checked against the routes that really exist.

use actix_web::http::Method;
use actix_web::{FromRequest, Handler, Responder, Route, web};

use super::ApiError;

/// Who may see a route in the public API document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Visibility {
    /// Part of the public API (in `openapi/`).
    Public,
    /// Between our own services only.
    Internal,
}

struct Entry {
    method: Method,
    path: &'static str,
    visibility: Visibility,
    route: Route,
}

/// The routes of one service.
#[derive(Default)]
pub struct RouteTable {
    entries: Vec<Entry>,
}

impl RouteTable {
    pub fn new() -> Self {
        RouteTable::default()
    }

    /// Adds a route of the public API.
    pub fn public<F, Args>(self, method: Method, path: &'static str, handler: F) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.add(method, path, Visibility::Public, handler)
    }

    /// Adds a route for our own services only.
    pub fn internal<F, Args>(self, method: Method, path: &'static str, handler: F) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.add(method, path, Visibility::Internal, handler)
    }

    fn add<F, Args>(mut self, method: Method, path: &'static str, visibility: Visibility, handler: F) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        let route = web::route().method(method.clone()).to(handler);
        self.entries.push(Entry { method, path, visibility, route });
        self
    }

    /// `(method, path, visibility)` of every route, in registration order.
    pub fn listing(&self) -> Vec<(Method, &'static str, Visibility)> {
        self.entries.iter().map(|e| (e.method.clone(), e.path, e.visibility)).collect()
    }

    /// Registers the routes, one resource per path, answering 405 problem+json for a
    /// method the path does not have.
    pub fn register(self, cfg: &mut web::ServiceConfig) {
        let mut paths: Vec<&'static str> = Vec::new();
        for e in &self.entries {
            if !paths.contains(&e.path) {
                paths.push(e.path);
            }
        }
        let mut entries = self.entries;
        for path in paths {
            let mut resource = web::resource(path);
            let (mine, rest): (Vec<Entry>, Vec<Entry>) = entries.into_iter().partition(|e| e.path == path);
            entries = rest;
            for e in mine {
                resource = resource.route(e.route);
            }
            resource = resource
                .default_service(web::to(|| async { Err::<actix_web::HttpResponse, _>(ApiError::MethodNotAllowed) }));
            cfg.service(resource);
        }
    }
}
