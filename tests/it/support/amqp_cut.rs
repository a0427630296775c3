//! A loopback TCP relay (127.0.0.1) between an AMQP client and the test RabbitMQ that cuts the
//! client's stream at an exact place, as a `kill -9` of the client can: it forwards the client's
//! frames one by one and, once the client has sent the `n`-th complete `basic.publish` (method,
//! content header and body frames) with a given routing key, forwards nothing more and closes
//! both sides. The broker then holds every frame up to that publish and none after it; the
//! client sees its connection drop. Broker-to-client bytes are relayed unchanged.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Where the relay cuts the client's stream.
#[derive(Debug, Clone)]
pub struct CutAfter {
    /// The routing key of the publish to cut after.
    pub routing_key: String,
    /// Which one (1 = the first publish with that key).
    pub nth: usize,
}

pub struct AmqpCut {
    /// `amqp://guest:guest@127.0.0.1:<port>/%2f`: the relay.
    pub url: String,
    done: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl AmqpCut {
    /// A relay to the broker at `amqp_url` (`amqp://…@host:port/…`) cutting where `cut` says,
    /// in the first connection that reaches it (later connections are relayed whole).
    pub async fn start(amqp_url: &str, cut: CutAfter) -> AmqpCut {
        let parsed = url::Url::parse(amqp_url).expect("AMQP URL");
        let target = format!(
            "{}:{}",
            parsed.host_str().expect("host"),
            parsed.port().unwrap_or(5672)
        );
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let mut url = parsed.clone();
        url.set_host(Some("127.0.0.1")).expect("host");
        url.set_port(Some(port)).expect("port");
        let done = Arc::new(AtomicBool::new(false));
        let flag = done.clone();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let broker = TcpStream::connect(&target).await.expect("broker");
                let cut = (!flag.load(Ordering::SeqCst)).then(|| cut.clone());
                tokio::spawn(relay(client, broker, cut, flag.clone()));
            }
        });
        AmqpCut {
            url: url.to_string(),
            done,
            task,
        }
    }

    /// True once the stream was cut.
    pub fn has_cut(&self) -> bool {
        self.done.load(Ordering::SeqCst)
    }
}

impl Drop for AmqpCut {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn relay(client: TcpStream, broker: TcpStream, cut: Option<CutAfter>, done: Arc<AtomicBool>) {
    let (mut client_read, mut client_write) = client.into_split();
    let (mut broker_read, mut broker_write) = broker.into_split();
    let down = tokio::spawn(async move {
        let _ = tokio::io::copy(&mut broker_read, &mut client_write).await;
        let _ = client_write.shutdown().await;
    });
    let Some(cut) = cut else {
        let _ = tokio::io::copy(&mut client_read, &mut broker_write).await;
        let _ = broker_write.shutdown().await;
        let _ = down.await;
        return;
    };
    let mut header = [0u8; 8];
    if client_read.read_exact(&mut header).await.is_err()
        || broker_write.write_all(&header).await.is_err()
    {
        return;
    }
    let mut stream = PublishCounter::default();
    loop {
        let mut head = [0u8; 7];
        if client_read.read_exact(&mut head).await.is_err() {
            break;
        }
        let size = u32::from_be_bytes([head[3], head[4], head[5], head[6]]) as usize;
        let mut rest = vec![0u8; size + 1];
        if client_read.read_exact(&mut rest).await.is_err() {
            break;
        }
        let channel = u16::from_be_bytes([head[1], head[2]]);
        let complete = stream.frame(head[0], channel, &rest[..size], &cut.routing_key);
        if broker_write.write_all(&head).await.is_err()
            || broker_write.write_all(&rest).await.is_err()
        {
            break;
        }
        if complete >= cut.nth {
            done.store(true, Ordering::SeqCst);
            break;
        }
    }
    // Nothing more reaches the broker: it sees the connection end after that publish.
    let _ = broker_write.shutdown().await;
    drop(broker_write);
    drop(client_read);
    down.abort();
}

/// Follows the publishes in a client's frames: counts the complete ones with a routing key.
#[derive(Default)]
struct PublishCounter {
    /// Per channel: the publish whose content is being sent (matches the key; body bytes left,
    /// `None` until its content header came).
    open: std::collections::HashMap<u16, (bool, Option<u64>)>,
    complete: usize,
}

impl PublishCounter {
    /// Takes one frame (type, channel, payload); returns the count of complete matching
    /// publishes so far.
    fn frame(&mut self, kind: u8, channel: u16, payload: &[u8], key: &str) -> usize {
        match kind {
            // Method frame: basic.publish is class 60, method 40.
            1 if payload.len() >= 4 && payload[..4] == [0, 60, 0, 40] => {
                self.open
                    .insert(channel, (publish_key(payload) == key, None));
            }
            // Content header: body size at bytes 4..12.
            2 if payload.len() >= 12 => {
                let size = u64::from_be_bytes(payload[4..12].try_into().unwrap_or_default());
                if let Some(publish) = self.open.get_mut(&channel) {
                    publish.1 = Some(size);
                }
            }
            3 => {
                if let Some((_, Some(left))) = self.open.get_mut(&channel) {
                    *left = left.saturating_sub(payload.len() as u64);
                }
            }
            _ => {}
        }
        if let Some(&(matches, Some(0))) = self.open.get(&channel) {
            self.open.remove(&channel);
            if matches {
                self.complete += 1;
            }
        }
        self.complete
    }
}

/// The routing key of a basic.publish method frame's payload (class, method, reserved short,
/// exchange shortstr, routing key shortstr).
fn publish_key(payload: &[u8]) -> String {
    let exchange = payload.get(6).copied().unwrap_or(0) as usize;
    let at = 7 + exchange;
    let len = payload.get(at).copied().unwrap_or(0) as usize;
    payload
        .get(at + 1..at + 1 + len)
        .map(|k| String::from_utf8_lossy(k).into_owned())
        .unwrap_or_default()
}
