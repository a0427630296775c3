//! A webhook receiver on 127.0.0.1 standing in for a chat or pager endpoint: it records every
//! JSON body posted to `/hook`.

use std::sync::{Arc, Mutex};

use axum::Json;
use axum::routing::post;

/// Bodies received so far, in arrival order.
pub type Received = Arc<Mutex<Vec<serde_json::Value>>>;

/// Starts the receiver; returns its `/hook` URL and what it has received.
pub async fn receiver() -> (String, Received) {
    let received: Received = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&received);
    let app = axum::Router::new().route(
        "/hook",
        post(move |Json(body): Json<serde_json::Value>| {
            let sink = Arc::clone(&sink);
            async move {
                sink.lock().expect("lock").push(body);
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, received)
}
