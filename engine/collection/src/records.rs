//! Reading whole points: by id (routed by id hash, or looked up in each scoped shard with
//! custom sharding) and page by page (`scroll`, by id or by an `order_by` field).

use quiver_types::{Filter, OrderBy, PointId, Record, WithPayload, WithVector};
use rayon::prelude::*;

use crate::collection::{sharded_by_key, Collection, Scope, ScrollRequest};
use crate::error::Result;

impl Collection {
    /// Points by id, in the order asked, each once; missing ids are skipped.
    pub fn retrieve(
        &self,
        ids: &[PointId],
        with_payload: &WithPayload,
        with_vector: &WithVector,
    ) -> Vec<Record> {
        let mut seen = std::collections::HashSet::new();
        ids.iter()
            .filter(|id| seen.insert(**id))
            .flat_map(|id| match self.owner(id) {
                Some(shard) => shard.retrieve(&[*id], with_payload, with_vector),
                None => Vec::new(),
            })
            .collect()
    }

    /// Points by id from the shards `scope` selects, looked up in each (a point id may live in
    /// several shards with custom sharding; the first shard that has it answers), in the order
    /// asked, each once.
    pub fn retrieve_in(
        &self,
        ids: &[PointId],
        with_payload: &WithPayload,
        with_vector: &WithVector,
        scope: Scope<'_>,
    ) -> Vec<Record> {
        let keyed = sharded_by_key(&self.config());
        let shards = self.scoped(scope);
        let mut seen = std::collections::HashSet::new();
        ids.iter()
            .filter(|id| seen.insert(**id))
            .filter_map(|id| {
                if !keyed {
                    // Automatic sharding: the id routes to one shard.
                    let home = self.shard_of(id);
                    let in_scope = match scope {
                        Scope::All => true,
                        Scope::Only(only) => only.contains(&home),
                    };
                    return in_scope
                        .then(|| self.local(home))
                        .flatten()
                        .and_then(|s| s.retrieve(&[*id], with_payload, with_vector).pop());
                }
                shards
                    .iter()
                    .find_map(|s| s.retrieve(&[*id], with_payload, with_vector).pop())
            })
            .collect()
    }

    /// A page of points and the id the next page starts at (`None` at the end, or when ordered).
    pub fn scroll(&self, req: &ScrollRequest) -> Result<(Vec<Record>, Option<PointId>)> {
        self.scroll_in(req, Scope::All)
    }

    /// [`Collection::scroll`] over the shards `scope` selects.
    pub fn scroll_in(&self, req: &ScrollRequest, scope: Scope<'_>) -> Result<(Vec<Record>, Option<PointId>)> {
        let resolved = self.resolve_filter(req.filter.as_ref());
        let filter = resolved
            .as_ref()
            .or(req.filter.as_ref())
            .filter(|f| !f.is_empty());
        if let Some(order) = &req.order_by {
            return Ok((self.scroll_ordered(order, req, filter, scope), None));
        }
        let want = req.limit.saturating_add(1);
        let mut ids: Vec<PointId> = self
            .scoped(scope)
            .par_iter()
            .flat_map_iter(|s| s.scroll_ids(req.offset, want, filter))
            .collect();
        ids.sort_unstable();
        let next = if ids.len() > req.limit {
            Some(ids[req.limit])
        } else {
            None
        };
        ids.truncate(req.limit);
        Ok((
            self.retrieve_in(&ids, &req.with_payload, &req.with_vector, scope),
            next,
        ))
    }

    fn scroll_ordered(
        &self,
        order: &OrderBy,
        req: &ScrollRequest,
        filter: Option<&Filter>,
        scope: Scope<'_>,
    ) -> Vec<Record> {
        let mut values: Vec<(f64, PointId)> = self
            .scoped(scope)
            .par_iter()
            .flat_map_iter(|s| s.order_values(order, filter))
            .collect();
        if let Some(start) = order.start_from {
            values.retain(|(v, _)| {
                if order.descending {
                    *v <= start
                } else {
                    *v >= start
                }
            });
        }
        values.sort_by(|a, b| {
            let by_value = if order.descending {
                b.0.total_cmp(&a.0)
            } else {
                a.0.total_cmp(&b.0)
            };
            by_value.then_with(|| a.1.cmp(&b.1))
        });
        values.truncate(req.limit);
        values
            .into_iter()
            .filter_map(|(v, id)| {
                let mut rec = self
                    .retrieve_in(&[id], &req.with_payload, &req.with_vector, scope)
                    .pop()?;
                rec.order_value = Some(v);
                Some(rec)
            })
            .collect()
    }
}
