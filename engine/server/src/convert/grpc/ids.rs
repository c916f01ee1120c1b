//! Point ids (`qdrant.PointId`: a number or a UUID string) and point selectors (ids or a filter).

use qdrant_client::qdrant as pb;
use qdrant_client::qdrant::point_id::PointIdOptions;
use qdrant_client::qdrant::points_selector::PointsSelectorOneOf;
use quiver_types::{PointId, PointSelector};

use super::{bad, filter::filter, index, join};
use crate::error::ApiResult;

/// A wire id -> an engine id. UUIDs are accepted in any form the `uuid` crate reads.
pub fn point_id(id: &pb::PointId, path: &str) -> ApiResult<PointId> {
    match &id.point_id_options {
        Some(PointIdOptions::Num(n)) => Ok(PointId::Num(*n)),
        Some(PointIdOptions::Uuid(s)) => uuid::Uuid::parse_str(s).map(PointId::Uuid).map_err(|_| {
            bad(
                path,
                format!("`{s}` is not a valid UUID (point ids are unsigned integers or UUIDs)"),
            )
        }),
        None => Err(bad(path, "point id is empty: set `num` or `uuid`")),
    }
}

/// A required id field.
pub fn required_id(id: &Option<pb::PointId>, path: &str, key: &str) -> ApiResult<PointId> {
    let p = join(path, key);
    point_id(super::required(id, path, key)?, &p)
}

pub fn point_ids(ids: &[pb::PointId], path: &str) -> ApiResult<Vec<PointId>> {
    ids.iter()
        .enumerate()
        .map(|(i, id)| point_id(id, &index(path, i)))
        .collect()
}

/// An engine id -> a wire id (UUIDs in the hyphenated lower-case form Qdrant answers with).
pub fn point_id_out(id: &PointId) -> pb::PointId {
    pb::PointId {
        point_id_options: Some(match id {
            PointId::Num(n) => PointIdOptions::Num(*n),
            PointId::Uuid(u) => PointIdOptions::Uuid(u.hyphenated().to_string()),
        }),
    }
}

/// `PointsSelector` at `path.key`, which must be present.
pub fn selector(sel: &Option<pb::PointsSelector>, path: &str, key: &str) -> ApiResult<PointSelector> {
    points_selector(super::required(sel, path, key)?, &join(path, key))
}

/// A `PointsSelector` at `path`.
pub fn points_selector(sel: &pb::PointsSelector, path: &str) -> ApiResult<PointSelector> {
    match &sel.points_selector_one_of {
        Some(PointsSelectorOneOf::Points(list)) => Ok(PointSelector::Ids(point_ids(
            &list.ids,
            &join(path, "points.ids"),
        )?)),
        Some(PointsSelectorOneOf::Filter(f)) => Ok(PointSelector::Filter(filter(f, &join(path, "filter"))?)),
        None => Err(bad(path, "expected `points` (a list of ids) or `filter`")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn num(n: u64) -> pb::PointId {
        pb::PointId {
            point_id_options: Some(PointIdOptions::Num(n)),
        }
    }

    fn uuid(s: &str) -> pb::PointId {
        pb::PointId {
            point_id_options: Some(PointIdOptions::Uuid(s.into())),
        }
    }

    #[test]
    fn ids_round_trip() {
        assert_eq!(point_id(&num(7), "id").ok(), Some(PointId::Num(7)));
        let u = "5c56c793-69f3-4fbf-87e6-c4bf54c28c26";
        let id = point_id(&uuid(u), "id").ok();
        assert!(matches!(id, Some(PointId::Uuid(_))));
        assert_eq!(id.map(|i| point_id_out(&i)), Some(uuid(u)));
        // Simple (unhyphenated, upper-case) UUIDs are read and answered hyphenated.
        let id = point_id(&uuid("5C56C79369F34FBF87E6C4BF54C28C26"), "id").ok();
        assert_eq!(id.map(|i| point_id_out(&i)), Some(uuid(u)));
        assert_eq!(point_id_out(&PointId::Num(3)), num(3));
    }

    #[test]
    fn bad_ids_name_the_field() {
        let e = point_ids(&[num(1), uuid("nope")], "ids")
            .err()
            .map(|e| e.to_string());
        assert!(e.is_some_and(|m| m.contains("ids[1]") && m.contains("nope")));
        let e = point_id(&pb::PointId::default(), "points[0].id")
            .err()
            .map(|e| e.to_string());
        assert!(e.is_some_and(|m| m.contains("points[0].id")));
    }

    #[test]
    fn selectors() {
        let ids = Some(pb::PointsSelector {
            points_selector_one_of: Some(PointsSelectorOneOf::Points(pb::PointsIdsList {
                ids: vec![num(1), num(2)],
            })),
        });
        assert_eq!(
            selector(&ids, "", "points").ok(),
            Some(PointSelector::Ids(vec![PointId::Num(1), PointId::Num(2)]))
        );
        let f = Some(pb::PointsSelector {
            points_selector_one_of: Some(PointsSelectorOneOf::Filter(pb::Filter::default())),
        });
        assert!(matches!(selector(&f, "", "points"), Ok(PointSelector::Filter(_))));
        let e = selector(&None, "", "points").err().map(|e| e.to_string());
        assert!(e.is_some_and(|m| m.contains("points")));
    }
}
