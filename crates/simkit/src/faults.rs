//! Fault knobs shared by the simulators.
//!
//! Transport-level knobs (slow responses, an unresponsive server, canned error responses) are
//! applied to every request by [`with_faults`]. The operation-level knob ([`Faults::fail_next`])
//! means whatever the simulator makes of it: the Proxmox VE simulator fails its next tasks with
//! the given text, for example.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use axum::Router;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::watch;

/// A response served instead of the real one by [`with_faults`].
#[derive(Debug, Clone, PartialEq)]
pub struct InjectedResponse {
    pub status: StatusCode,
    pub body: serde_json::Value,
}

#[derive(Debug, Default)]
struct FaultState {
    failures: VecDeque<String>,
    responses: VecDeque<InjectedResponse>,
    delay: Duration,
}

#[derive(Debug)]
struct FaultsInner {
    state: Mutex<FaultState>,
    unresponsive: watch::Sender<bool>,
}

/// Fault knobs, cheap to clone (all clones share the same knobs).
#[derive(Debug, Clone)]
pub struct Faults {
    inner: Arc<FaultsInner>,
}

impl Default for Faults {
    fn default() -> Self {
        Faults::new()
    }
}

impl Faults {
    /// No faults.
    pub fn new() -> Faults {
        let (unresponsive, _) = watch::channel(false);
        Faults {
            inner: Arc::new(FaultsInner {
                state: Mutex::new(FaultState::default()),
                unresponsive,
            }),
        }
    }

    fn state(&self) -> MutexGuard<'_, FaultState> {
        // A panic while holding this lock cannot leave the knobs inconsistent.
        self.inner
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Fails the next `count` operations with `message` (the simulator decides what an operation
    /// is).
    pub fn fail_next(&self, count: usize, message: impl Into<String>) {
        let message = message.into();
        let mut state = self.state();
        state.failures.extend(std::iter::repeat_n(message, count));
    }

    /// Consumes one pending operation failure.
    pub fn take_failure(&self) -> Option<String> {
        self.state().failures.pop_front()
    }

    /// How many operation failures are still pending.
    pub fn pending_failures(&self) -> usize {
        self.state().failures.len()
    }

    /// Answers the next `count` requests with `status` and the JSON `body` instead of serving
    /// them (requires [`with_faults`]).
    pub fn fail_next_requests(&self, count: usize, status: StatusCode, body: serde_json::Value) {
        let response = InjectedResponse { status, body };
        let mut state = self.state();
        state.responses.extend(std::iter::repeat_n(response, count));
    }

    /// Consumes one pending injected response.
    pub fn take_response(&self) -> Option<InjectedResponse> {
        self.state().responses.pop_front()
    }

    /// Delays every response by `delay` (zero turns it off).
    pub fn set_delay(&self, delay: Duration) {
        self.state().delay = delay;
    }

    /// The current response delay.
    pub fn delay(&self) -> Duration {
        self.state().delay
    }

    /// While set, requests are accepted but never answered; clearing it releases them.
    pub fn set_unresponsive(&self, unresponsive: bool) {
        self.inner.unresponsive.send_replace(unresponsive);
    }

    /// Whether the server currently ignores requests.
    pub fn is_unresponsive(&self) -> bool {
        *self.inner.unresponsive.borrow()
    }

    /// Clears every knob.
    pub fn reset(&self) {
        {
            let mut state = self.state();
            *state = FaultState::default();
        }
        self.set_unresponsive(false);
    }

    /// Waits while the server is unresponsive, then for the configured delay.
    pub async fn gate(&self) {
        let mut unresponsive = self.inner.unresponsive.subscribe();
        // The sender lives as long as `self`, so this only returns once the knob is cleared.
        let _ = unresponsive.wait_for(|on| !*on).await;
        let delay = self.delay();
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
    }
}

/// Middleware applying the transport-level knobs; see [`with_faults`].
pub async fn fault_middleware(
    State(faults): State<Faults>,
    request: Request,
    next: Next,
) -> Response {
    faults.gate().await;
    if let Some(injected) = faults.take_response() {
        let mut response = Response::new(Body::from(injected.body.to_string()));
        *response.status_mut() = injected.status;
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            header::HeaderValue::from_static("application/json;charset=UTF-8"),
        );
        return response;
    }
    next.run(request).await
}

/// Wraps every route of `router` with the transport-level knobs of `faults`.
pub fn with_faults(router: Router, faults: &Faults) -> Router {
    router.layer(axum::middleware::from_fn_with_state(
        faults.clone(),
        fault_middleware,
    ))
}
