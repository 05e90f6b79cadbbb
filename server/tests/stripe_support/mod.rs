//! A fake Stripe for the adapter's tests: an HTTP server on 127.0.0.1 that records every request
//! and answers the Checkout Session endpoints with sessions built from Stripe's published
//! example (`fixtures/checkout_session.json`), idempotent per `Idempotency-Key` like Stripe.
//! Answers can be scripted to fail first.
#![allow(dead_code)]

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};

use axum::extract::{Form, Path, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use uuid::Uuid;

pub const EVENT_FIXTURE: &str = include_str!("fixtures/event.json");
pub const SESSION_FIXTURE: &str = include_str!("fixtures/checkout_session.json");
pub const PAYMENT_INTENT_FIXTURE: &str = include_str!("fixtures/payment_intent.json");

/// One request the fake received.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: Method,
    pub path: String,
    pub headers: HeaderMap,
    /// The decoded form body, in order (empty for a GET).
    pub form: Vec<(String, String)>,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|value| value.to_str().ok())
    }

    pub fn field(&self, name: &str) -> Option<&str> {
        self.form
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }
}

#[derive(Default)]
struct Books {
    requests: Vec<Recorded>,
    /// Answers given before any normal one, first in first out.
    scripted: VecDeque<(StatusCode, Value)>,
    sessions: BTreeMap<String, Value>,
    /// Idempotency key to the session it created.
    keys: BTreeMap<String, String>,
}

#[derive(Clone)]
pub struct FakeStripe {
    /// The API base to configure (`KASA_STRIPE_API_BASE`).
    pub base: String,
    books: Arc<Mutex<Books>>,
}

impl FakeStripe {
    pub async fn start() -> FakeStripe {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let fake = FakeStripe {
            base,
            books: Arc::default(),
        };
        let router = axum::Router::new()
            .route("/v1/checkout/sessions", post(create_session))
            .route("/v1/checkout/sessions/{id}", get(read_session))
            .with_state(fake.clone());
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        fake
    }

    /// The next call is answered with `status` and `body`, whatever it asks.
    pub fn answer_next(&self, status: u16, body: Value) {
        self.books
            .lock()
            .unwrap()
            .scripted
            .push_back((StatusCode::from_u16(status).unwrap(), body));
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.books.lock().unwrap().requests.clone()
    }

    pub fn session(&self, id: &str) -> Value {
        self.books.lock().unwrap().sessions[id].clone()
    }

    /// Changes fields of a session, as paying or expiring it at Stripe would.
    pub fn update_session(&self, id: &str, fields: Value) {
        let mut books = self.books.lock().unwrap();
        let session = books.sessions.get_mut(id).expect("the session exists");
        overwrite(session, &fields);
    }

    fn record(&self, request: Recorded) -> Option<(StatusCode, Value)> {
        let mut books = self.books.lock().unwrap();
        books.requests.push(request);
        books.scripted.pop_front()
    }
}

/// Stripe's published Checkout Session with `fields` replaced.
pub fn session_fixture(fields: &Value) -> Value {
    let mut session: Value = serde_json::from_str(SESSION_FIXTURE).unwrap();
    overwrite(&mut session, fields);
    session
}

/// Stripe's published event envelope around `object`, with a fresh id and `event_type`.
pub fn event_fixture(event_type: &str, object: Value) -> Value {
    let mut event: Value = serde_json::from_str(EVENT_FIXTURE).unwrap();
    event["id"] = format!("evt_{}", Uuid::new_v4().simple()).into();
    event["type"] = event_type.into();
    event["data"]["object"] = object;
    event
}

fn overwrite(target: &mut Value, fields: &Value) {
    for (key, value) in fields.as_object().expect("fields are an object") {
        target[key] = value.clone();
    }
}

fn stripe_error(status: StatusCode, code: &str, message: &str) -> Response {
    let body =
        json!({"error": {"type": "invalid_request_error", "code": code, "message": message}});
    (status, axum::Json(body)).into_response()
}

async fn create_session(
    State(fake): State<FakeStripe>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    let request = Recorded {
        method,
        path: uri.path().to_owned(),
        headers,
        form,
    };
    if let Some((status, body)) = fake.record(request.clone()) {
        return (status, axum::Json(body)).into_response();
    }
    let Some(key) = request.header("idempotency-key").map(str::to_owned) else {
        return stripe_error(
            StatusCode::BAD_REQUEST,
            "idempotency_key_missing",
            "No key.",
        );
    };
    let mut books = fake.books.lock().unwrap();
    if let Some(id) = books.keys.get(&key) {
        return axum::Json(books.sessions[id].clone()).into_response();
    }
    let field = |name: &str| request.field(name).map(str::to_owned);
    let number = |name: &str| field(name).and_then(|value| value.parse::<i64>().ok());
    let id = format!("cs_test_{}", Uuid::new_v4().simple());
    let session = session_fixture(&json!({
        "id": id,
        "url": format!("https://checkout.stripe.com/c/pay/{id}"),
        "status": "open",
        "payment_status": "unpaid",
        "mode": field("mode"),
        "amount_subtotal": number("line_items[0][price_data][unit_amount]"),
        "amount_total": number("line_items[0][price_data][unit_amount]"),
        "currency": field("line_items[0][price_data][currency]"),
        "client_reference_id": field("client_reference_id"),
        "metadata": {
            "deposit_id": field("metadata[deposit_id]"),
            "tenant_id": field("metadata[tenant_id]"),
            "player_id": field("metadata[player_id]"),
        },
        "success_url": field("success_url"),
        "cancel_url": field("cancel_url"),
        "expires_at": number("expires_at"),
    }));
    books.keys.insert(key, id.clone());
    books.sessions.insert(id, session.clone());
    axum::Json(session).into_response()
}

async fn read_session(
    State(fake): State<FakeStripe>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let request = Recorded {
        method,
        path: uri.path().to_owned(),
        headers,
        form: Vec::new(),
    };
    if let Some((status, body)) = fake.record(request) {
        return (status, axum::Json(body)).into_response();
    }
    match fake.books.lock().unwrap().sessions.get(&id) {
        Some(session) => axum::Json(session.clone()).into_response(),
        None => stripe_error(
            StatusCode::NOT_FOUND,
            "resource_missing",
            &format!("No such checkout.session: '{id}'"),
        ),
    }
}
