//! The `geo` field index: points sorted by latitude, so a radius, box or polygon filter visits only
//! the latitude band of the shape's bounding box and keeps the points whose longitude is inside it.
//!
//! Like every field index it answers with a superset of the matches (the bounding box, widened by
//! a rounding margin); the exact predicate is still checked on each candidate. Points whose
//! coordinates are outside the valid ranges (the evaluator accepts them, and haversine wraps them
//! around) are always candidates.

use quiver_types::{FieldPredicate, GeoPoint};

use crate::filter::EARTH_RADIUS_M;

/// Degrees added on each side of a bounding box, so float rounding never drops a match.
const MARGIN_DEG: f64 = 1e-9;

/// Indexed geo points of one field.
#[derive(Debug, Clone, Default)]
pub struct GeoIndex {
    /// (lat, lon, offset), sorted by latitude then offset.
    points: Vec<(f64, f64, u32)>,
    /// Offsets of points with a latitude outside [-90, 90] or a longitude outside [-180, 180].
    odd: Vec<u32>,
}

/// The longitudes a bounding box spans.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Lons {
    All,
    /// west <= lon <= east.
    Between(f64, f64),
    /// The box crosses the antimeridian: lon >= west or lon <= east.
    Wrapping(f64, f64),
}

impl Lons {
    fn contains(self, lon: f64) -> bool {
        match self {
            Lons::All => true,
            Lons::Between(w, e) => w <= lon && lon <= e,
            Lons::Wrapping(w, e) => lon >= w || lon <= e,
        }
    }
}

fn is_odd(p: GeoPoint) -> bool {
    !(-90.0..=90.0).contains(&p.lat) || !(-180.0..=180.0).contains(&p.lon)
}

impl GeoIndex {
    /// Adds a point; `sorted` keeps the order for an edit of a built index (a build appends and
    /// calls [`GeoIndex::finish`] once).
    pub fn add(&mut self, offset: u32, p: GeoPoint, sorted: bool) {
        if is_odd(p) {
            if let Err(i) = self.odd.binary_search(&offset) {
                self.odd.insert(i, offset);
            }
            return;
        }
        let entry = (p.lat, p.lon, offset);
        if sorted {
            let at = self.position(entry);
            self.points.insert(at, entry);
        } else {
            self.points.push(entry);
        }
    }

    /// Sorts what a build appended.
    pub fn finish(&mut self) {
        self.points
            .sort_by(|a, b| a.0.total_cmp(&b.0).then(a.2.cmp(&b.2)));
    }

    /// Removes one point of `offset` (at `p`).
    pub fn remove(&mut self, offset: u32, p: GeoPoint) {
        if is_odd(p) {
            if let Ok(i) = self.odd.binary_search(&offset) {
                self.odd.remove(i);
            }
            return;
        }
        let at = self.position((p.lat, p.lon, offset));
        // Several points of one offset may share a latitude: look along the run.
        let run = self.points[at..]
            .iter()
            .take_while(|e| e.0 == p.lat && e.2 == offset)
            .position(|e| e.1 == p.lon);
        if let Some(i) = run {
            self.points.remove(at + i);
        }
    }

    fn position(&self, entry: (f64, f64, u32)) -> usize {
        self.points
            .partition_point(|e| e.0.total_cmp(&entry.0).then(e.2.cmp(&entry.2)).is_lt())
    }

    /// Offsets that may pass `predicate` (sorted, deduplicated); `None` for a non-geo predicate.
    pub fn candidates(&self, predicate: &FieldPredicate) -> Option<Vec<u32>> {
        let (south, north, lons) = bounds(predicate)?;
        let lo = self.points.partition_point(|e| e.0 < south - MARGIN_DEG);
        let hi = self.points.partition_point(|e| e.0 <= north + MARGIN_DEG);
        let mut out: Vec<u32> = self.points[lo..hi.max(lo)]
            .iter()
            .filter(|e| lons.contains(e.1))
            .map(|e| e.2)
            .chain(self.odd.iter().copied())
            .collect();
        out.sort_unstable();
        out.dedup();
        Some(out)
    }
}

/// (south, north, longitudes) of a geo predicate's bounding box.
fn bounds(predicate: &FieldPredicate) -> Option<(f64, f64, Lons)> {
    match predicate {
        FieldPredicate::GeoBoundingBox(b) => {
            let (west, east) = (b.top_left.lon - MARGIN_DEG, b.bottom_right.lon + MARGIN_DEG);
            let lons = if b.top_left.lon > b.bottom_right.lon {
                Lons::Wrapping(west, east)
            } else {
                Lons::Between(west, east)
            };
            Some((b.bottom_right.lat, b.top_left.lat, lons))
        }
        FieldPredicate::GeoPolygon(g) => {
            // The polygon test is ray casting in plain coordinates: its ring's box bounds it.
            let ring = &g.exterior;
            let fold = |f: fn(&GeoPoint) -> f64, pick: fn(f64, f64) -> f64, start: f64| {
                ring.iter().map(f).fold(start, pick)
            };
            let south = fold(|p| p.lat, f64::min, f64::INFINITY);
            let north = fold(|p| p.lat, f64::max, f64::NEG_INFINITY);
            let west = fold(|p| p.lon, f64::min, f64::INFINITY);
            let east = fold(|p| p.lon, f64::max, f64::NEG_INFINITY);
            Some((south, north, Lons::Between(west - MARGIN_DEG, east + MARGIN_DEG)))
        }
        FieldPredicate::GeoRadius(c) => Some(circle_bounds(c.center, c.radius)),
        _ => None,
    }
}

/// The box around a spherical cap of `radius` meters: the latitude band is the angular radius on
/// each side; the longitude half-width is asin(sin d / cos lat), or every longitude when the cap
/// reaches a pole.
fn circle_bounds(center: GeoPoint, radius: f64) -> (f64, f64, Lons) {
    if is_odd(center) || !radius.is_finite() {
        return (-90.0, 90.0, Lons::All);
    }
    // 1 ppm wider than the exact angle, for rounding in haversine.
    let d = (radius.max(0.0) / EARTH_RADIUS_M) * (1.0 + 1e-6);
    let d_deg = d.to_degrees();
    let (south, north) = (center.lat - d_deg, center.lat + d_deg);
    if d >= std::f64::consts::PI || south <= -90.0 || north >= 90.0 {
        return (south.max(-90.0), north.min(90.0), Lons::All);
    }
    let s = d.sin() / center.lat.to_radians().cos();
    if s >= 1.0 {
        return (south, north, Lons::All);
    }
    let half = s.asin().to_degrees() * (1.0 + 1e-6) + MARGIN_DEG;
    let (west, east) = (center.lon - half, center.lon + half);
    let lons = if west < -180.0 {
        Lons::Wrapping(west + 360.0, east)
    } else if east > 180.0 {
        Lons::Wrapping(west, east - 360.0)
    } else {
        Lons::Between(west, east)
    };
    (south, north, lons)
}

#[cfg(test)]
mod tests {
    use super::*;
    use quiver_types::{GeoBoundingBox, GeoRadius};

    fn pt(lat: f64, lon: f64) -> GeoPoint {
        GeoPoint { lat, lon }
    }

    fn index(points: &[GeoPoint]) -> GeoIndex {
        let mut idx = GeoIndex::default();
        for (i, p) in points.iter().enumerate() {
            idx.add(i as u32, *p, false);
        }
        idx.finish();
        idx
    }

    #[test]
    fn radius_keeps_the_band_and_wraps_the_antimeridian() {
        let points = [
            pt(0.0, 179.9),   // 0: near the antimeridian, east side
            pt(0.0, -179.9),  // 1: just across it
            pt(0.0, 170.0),   // 2: 1,100 km away
            pt(10.0, 179.95), // 3: 1,100 km north
            pt(95.0, 0.0),    // 4: odd latitude: always a candidate
        ];
        let idx = index(&points);
        let circle = FieldPredicate::GeoRadius(GeoRadius {
            center: pt(0.0, 179.95),
            radius: 50_000.0,
        });
        assert_eq!(idx.candidates(&circle), Some(vec![0, 1, 4]));
        // A cap over the pole takes every longitude of its band.
        let polar = FieldPredicate::GeoRadius(GeoRadius {
            center: pt(89.5, 0.0),
            radius: 200_000.0,
        });
        let far_side = index(&[pt(89.5, 180.0), pt(80.0, 180.0)]);
        assert_eq!(far_side.candidates(&polar), Some(vec![0]));
    }

    #[test]
    fn box_and_edits() {
        let mut idx = index(&[pt(1.0, 1.0), pt(5.0, 5.0), pt(5.0, -170.0)]);
        let boxed = |w: f64, e: f64| {
            FieldPredicate::GeoBoundingBox(GeoBoundingBox {
                top_left: pt(6.0, w),
                bottom_right: pt(0.0, e),
            })
        };
        assert_eq!(idx.candidates(&boxed(0.0, 4.0)), Some(vec![0]));
        assert_eq!(idx.candidates(&boxed(170.0, -160.0)), Some(vec![2]), "wraps");
        idx.remove(0, pt(1.0, 1.0));
        idx.add(7, pt(2.0, 2.0), true);
        assert_eq!(idx.candidates(&boxed(0.0, 4.0)), Some(vec![7]));
        idx.remove(7, pt(2.0, 3.0));
        assert_eq!(
            idx.candidates(&boxed(0.0, 4.0)),
            Some(vec![7]),
            "no such point to remove"
        );
    }
}
