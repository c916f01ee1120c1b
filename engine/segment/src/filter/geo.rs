//! Geographic predicates on payload values.
//!
//! A payload value is a geo point when it is an object whose `lat` and `lon` are finite JSON numbers
//! (other keys are ignored; coordinates are not range-checked). Every boundary is exclusive: a point
//! exactly on a circle, on a box edge or on a polygon ring (outer or hole) does not match.
//! Distances are haversine on a sphere of the IUGG mean Earth radius.

use quiver_types::{GeoBoundingBox, GeoPoint, GeoPolygon, GeoRadius};
use serde_json::Value;

/// Mean Earth radius in meters (IUGG), the one Qdrant uses.
pub const EARTH_RADIUS_M: f64 = 6_371_008.8;

/// The geo point a payload value holds, if it is one.
pub fn geo_point(value: &Value) -> Option<GeoPoint> {
    let obj = value.as_object()?;
    let coordinate = |key: &str| match obj.get(key)? {
        Value::Number(n) => n.as_f64().filter(|x| x.is_finite()),
        _ => None,
    };
    Some(GeoPoint {
        lat: coordinate("lat")?,
        lon: coordinate("lon")?,
    })
}

/// Great-circle distance in meters (haversine).
pub fn haversine_m(a: GeoPoint, b: GeoPoint) -> f64 {
    let (lon1, lat1) = (a.lon.to_radians(), a.lat.to_radians());
    let (lon2, lat2) = (b.lon.to_radians(), b.lat.to_radians());
    let dlon = lon2 - lon1;
    let dlat = lat2 - lat1;
    let h = (dlat / 2.0).sin().powi(2) + lat1.cos() * lat2.cos() * (dlon / 2.0).sin().powi(2);
    EARTH_RADIUS_M * (2.0 * h.sqrt().asin())
}

/// Strictly closer to the center than the radius.
pub(super) fn in_radius(circle: &GeoRadius, p: GeoPoint) -> bool {
    haversine_m(p, circle.center) < circle.radius
}

/// Strictly inside the box. When the top-left longitude is east of the bottom-right one, the box
/// crosses the antimeridian and wraps around it.
pub(super) fn in_bounding_box(bbox: &GeoBoundingBox, p: GeoPoint) -> bool {
    let (west, east) = (bbox.top_left.lon, bbox.bottom_right.lon);
    let lon_ok = if west > east {
        p.lon > west || p.lon < east
    } else {
        west < p.lon && p.lon < east
    };
    lon_ok && bbox.top_left.lat > p.lat && p.lat > bbox.bottom_right.lat
}

/// Strictly inside the exterior ring and not inside or on any hole.
pub(super) fn in_polygon(polygon: &GeoPolygon, p: GeoPoint) -> bool {
    ring_contains(&polygon.exterior, p, false)
        && !polygon.interiors.iter().any(|hole| ring_contains(hole, p, true))
}

/// Even-odd ray casting in (lat, lon) coordinates. A point on the ring counts as inside only when
/// `boundary_inside`. A repeated closing point is ignored; an empty ring contains nothing.
fn ring_contains(ring: &[GeoPoint], p: GeoPoint, boundary_inside: bool) -> bool {
    let ring = match ring.split_last() {
        Some((last, init)) if ring[0].lat == last.lat && ring[0].lon == last.lon => init,
        _ => ring,
    };
    if ring.is_empty() {
        return false;
    }
    let (px, py) = (p.lat, p.lon);
    let mut inside = false;
    let mut j = ring.len() - 1;
    for (i, vi) in ring.iter().enumerate() {
        let (xi, yi) = (vi.lat, vi.lon);
        let (xj, yj) = (ring[j].lat, ring[j].lon);
        let on_edge = py * (xi - xj) + yi * (xj - px) + yj * (px - xi) == 0.0
            && (xi - px) * (xj - px) <= 0.0
            && (yi - py) * (yj - py) <= 0.0;
        if on_edge {
            return boundary_inside;
        }
        if (yi > py) != (yj > py) && px < (xj - xi) * (py - yi) / (yj - yi) + xi {
            inside = !inside;
        }
        j = i;
    }
    inside
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pt(lon: f64, lat: f64) -> GeoPoint {
        GeoPoint { lon, lat }
    }

    #[test]
    fn haversine_known_distances() {
        let moscow = pt(37.6173, 55.7558);
        let london = pt(-0.1278, 51.5074);
        let berlin = pt(13.4050, 52.5200);
        assert!(haversine_m(moscow, moscow) < 1.0);
        let ml = haversine_m(moscow, london);
        assert!((2_400_000.0..2_600_000.0).contains(&ml), "{ml}");
        let mb = haversine_m(moscow, berlin);
        assert!((1_600_000.0..1_650_000.0).contains(&mb), "{mb}");
        // A quarter of the equator.
        let q = haversine_m(pt(0.0, 0.0), pt(90.0, 0.0));
        assert!((q - EARTH_RADIUS_M * std::f64::consts::FRAC_PI_2).abs() < 1e-6);
    }

    #[test]
    fn geo_point_needs_finite_numeric_lat_and_lon() {
        assert_eq!(
            geo_point(&json!({"lat": 1, "lon": 2.5, "x": 0})),
            Some(pt(2.5, 1.0))
        );
        assert_eq!(geo_point(&json!({"lat": 1})), None);
        assert_eq!(geo_point(&json!({"lat": "1", "lon": 2})), None);
        assert_eq!(geo_point(&json!({"lat": true, "lon": 2})), None);
        assert_eq!(geo_point(&json!([1, 2])), None);
        assert_eq!(
            geo_point(&json!({"lat": 500, "lon": 2})),
            Some(pt(2.0, 500.0)),
            "no range check"
        );
    }

    #[test]
    fn ring_with_or_without_closing_point() {
        let open = vec![pt(0.0, 0.0), pt(10.0, 0.0), pt(10.0, 10.0), pt(0.0, 10.0)];
        let mut closed = open.clone();
        closed.push(pt(0.0, 0.0));
        for ring in [&open, &closed] {
            assert!(ring_contains(ring, pt(5.0, 5.0), false));
            assert!(!ring_contains(ring, pt(15.0, 5.0), false));
            assert!(!ring_contains(ring, pt(10.0, 5.0), false), "edge");
            assert!(ring_contains(ring, pt(10.0, 5.0), true), "edge counts for holes");
            assert!(!ring_contains(ring, pt(0.0, 0.0), false), "vertex");
        }
        assert!(!ring_contains(&[], pt(0.0, 0.0), true));
        assert!(
            !ring_contains(&[pt(1.0, 1.0)], pt(1.0, 1.0), true),
            "a lone point is an empty ring"
        );
    }
}
