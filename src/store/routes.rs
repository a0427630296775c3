//! The route each incident was given, kept beside it (`incident_routes`), so the console and
//! `watch` use the decision made when the incident arrived and can say why.

use rusqlite::{OptionalExtension, params};

use super::codec::ms;
use super::{Result, Store, StoreError};
use crate::domain::Timestamp;
use crate::domain::routing::StoredRoute;

impl Store {
    /// Writes the routes in one transaction; unchanged ones are not rewritten.
    pub fn write_incident_routes(
        &mut self,
        upstream: &str,
        routes: &[(String, StoredRoute)],
        at: Timestamp,
    ) -> Result<()> {
        let path = self.path.clone();
        let err = |source| StoreError::Sqlite {
            path: path.clone(),
            source,
        };
        let tx = self.conn.transaction().map_err(err)?;
        {
            let mut stmt = tx
                .prepare_cached(
                    "INSERT INTO incident_routes (upstream, id, route, routed_ms) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (upstream, id) DO UPDATE SET route = excluded.route, routed_ms = excluded.routed_ms
                     WHERE route IS NOT excluded.route",
                )
                .map_err(err)?;
            for (id, route) in routes {
                let json = serde_json::to_string(route).unwrap_or_default();
                stmt.execute(params![upstream, id, json, ms(at)])
                    .map_err(err)?;
            }
        }
        tx.commit().map_err(err)
    }

    pub fn incident_route(&self, upstream: &str, id: &str) -> Result<Option<StoredRoute>> {
        let json: Option<String> = self
            .conn
            .query_row(
                "SELECT route FROM incident_routes WHERE upstream = ?1 AND id = ?2",
                params![upstream, id],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.sqlite(e))?;
        json.map(|j| {
            serde_json::from_str(&j).map_err(|e| self.corrupt("incident_routes", e.to_string()))
        })
        .transpose()
    }
}
