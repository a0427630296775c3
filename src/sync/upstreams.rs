//! Builds the adapters named in the config and finds them by id.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::config::{Config, RoutingConfig, UpstreamConfig};
use crate::domain::UpstreamKind;
use crate::domain::routing::{self, IncidentFacts};
use crate::notify::Notifier;
use crate::upstream::alertmanager::{AckTtl, Alertmanager};
use crate::upstream::connector_api::ConnectorApi;
use crate::upstream::tls::TrustedCa;
use crate::upstream::{Upstream, UpstreamError};

/// Every configured upstream's adapter, by id.
#[derive(Clone, Default)]
pub struct Upstreams {
    by_id: BTreeMap<String, Arc<dyn Upstream>>,
}

impl Upstreams {
    /// Builds one adapter per configured upstream; secrets are resolved now. An upstream that
    /// cannot be built (secret missing, kind not available) is left out and its error returned,
    /// so the others still run and the broken one shows as down.
    pub fn from_config(config: &Config, routing: &RoutingConfig) -> (Self, Vec<UpstreamError>) {
        let mut by_id = BTreeMap::new();
        let mut errors = Vec::new();
        for u in &config.upstreams {
            match build(u, config, routing) {
                Ok(adapter) => {
                    by_id.insert(u.id.clone(), adapter);
                }
                Err(e) => errors.push(e),
            }
        }
        for n in &routing.notifiers {
            let built = n
                .resolve_url()
                .map_err(|message| UpstreamError::Config {
                    upstream: n.id.clone(),
                    message,
                })
                .and_then(|url| Notifier::new(&n.id, n.kind, &url, n.timeout));
            match built {
                Ok(notifier) => {
                    by_id.insert(n.id.clone(), Arc::new(notifier) as Arc<dyn Upstream>);
                }
                Err(e) => errors.push(e),
            }
        }
        (Upstreams { by_id }, errors)
    }

    pub fn insert(&mut self, upstream: Arc<dyn Upstream>) {
        self.by_id.insert(upstream.id().to_string(), upstream);
    }

    /// Tells each upstream what the store knows triage replayed or discarded on it (see
    /// `Upstream::remember_handled`); only RabbitMQ upstreams use it, so only they are asked.
    pub async fn remember_handled(&self, store: &super::StoreWriter) {
        for upstream in self.by_id.values() {
            if upstream.kind() != crate::domain::UpstreamKind::Rabbitmq {
                continue;
            }
            let id = upstream.id().to_string();
            match store.call(move |s| s.handled_dead_letter_ids(&id)).await {
                Ok(handled) => upstream.remember_handled(handled).await,
                Err(e) => tracing::warn!("{}: handled dead letters unread: {e}", upstream.id()),
            }
        }
    }

    pub fn get(&self, id: &str) -> Option<&Arc<dyn Upstream>> {
        self.by_id.get(id)
    }

    pub fn all(&self) -> impl Iterator<Item = &Arc<dyn Upstream>> {
        self.by_id.values()
    }
}

fn build(
    u: &UpstreamConfig,
    config: &Config,
    routing: &RoutingConfig,
) -> Result<Arc<dyn Upstream>, UpstreamError> {
    let token = u.token.resolve().map_err(|message| UpstreamError::Config {
        upstream: u.id.clone(),
        message,
    })?;
    // RabbitMQ loads its own (for both its management URL and its amqps:// connection).
    let ca = match (&u.ca_file, u.kind) {
        (Some(path), UpstreamKind::ConnectorApi | UpstreamKind::Alertmanager) => Some(
            TrustedCa::load(path).map_err(|message| UpstreamError::Config {
                upstream: u.id.clone(),
                message,
            })?,
        ),
        _ => None,
    };
    match u.kind {
        UpstreamKind::ConnectorApi => {
            let api = ConnectorApi::new(&u.id, &u.url, u.timeout, token)?;
            Ok(Arc::new(match ca {
                Some(ca) => api.trusting(ca)?,
                None => api,
            }))
        }
        UpstreamKind::Alertmanager => {
            let am = Alertmanager::new(&u.id, &u.url, u.timeout, token)?
                .with_ack_ttl_for(ack_timeout_of(config, routing));
            Ok(Arc::new(match ca {
                Some(ca) => am.trusting(ca)?,
                None => am,
            }))
        }
        UpstreamKind::Rabbitmq => Ok(Arc::new(crate::upstream::rabbitmq::RabbitMq::from_config(
            u,
            token,
            &config.connectors,
        )?)),
        UpstreamKind::Sqs => Ok(Arc::new(crate::upstream::sqs::Sqs::from_config(
            u,
            &config.connectors,
        )?)),
    }
}

/// The ack timeout of the chain an incident routes to (silences last that long).
fn ack_timeout_of(config: &Config, routing: &RoutingConfig) -> AckTtl {
    let (rules, chains) = (routing.routes.clone(), routing.chains.clone());
    let (inventory, default_sla) = (config.inventory(), config.default_ack_sla);
    Arc::new(move |incident| {
        let decision = routing::route(
            &IncidentFacts::from_incident(incident),
            &rules,
            &inventory,
            default_sla,
        );
        let chain = decision
            .chain
            .as_deref()
            .and_then(|name| chains.iter().find(|c| c.name == name))?;
        chain.ack_timeout
    })
}
