//! Point ids: an unsigned integer or a UUID. Numbers order before UUIDs, as Qdrant orders them, so a
//! scroll over a mixed collection is stable.

use std::fmt;
use std::str::FromStr;

use crate::TypesError;

/// The identity of a point within a collection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub enum PointId {
    Num(u64),
    Uuid(uuid::Uuid),
}

impl PointId {
    /// A stable 64-bit hash used to route a point to a shard. It must never change: the placement of
    /// every stored point depends on it.
    pub fn route_hash(&self) -> u64 {
        match self {
            PointId::Num(n) => mix64(*n),
            PointId::Uuid(u) => {
                let v = u.as_u128();
                mix64((v as u64) ^ mix64((v >> 64) as u64))
            }
        }
    }
}

/// SplitMix64 finaliser: cheap, well spread, and fixed forever (routing depends on it).
fn mix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

impl fmt::Display for PointId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PointId::Num(n) => write!(f, "{n}"),
            PointId::Uuid(u) => write!(f, "{u}"),
        }
    }
}

impl FromStr for PointId {
    type Err = TypesError;

    /// Accepts a decimal number or a UUID in any of the textual forms the `uuid` crate reads.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Ok(n) = s.parse::<u64>() {
            return Ok(PointId::Num(n));
        }
        uuid::Uuid::parse_str(s).map(PointId::Uuid).map_err(|_| {
            TypesError::InvalidPointId(format!("`{s}` is neither an unsigned integer nor a UUID"))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_order_before_uuids() {
        let u = PointId::Uuid(uuid::Uuid::nil());
        assert!(PointId::Num(u64::MAX) < u);
        assert!(PointId::Num(1) < PointId::Num(2));
    }

    #[test]
    fn parses_both_forms_and_rejects_garbage() {
        assert_eq!("42".parse::<PointId>(), Ok(PointId::Num(42)));
        let u: PointId = "5c56c793-69f3-4fbf-87e6-c4bf54c28c26".parse().unwrap();
        assert!(matches!(u, PointId::Uuid(_)));
        assert!("-1".parse::<PointId>().is_err());
        assert!("abc".parse::<PointId>().is_err());
    }

    #[test]
    fn route_hash_is_fixed() {
        // Routing of stored data depends on these exact values; changing them is a breaking change.
        assert_eq!(PointId::Num(0).route_hash(), 0xE220_A839_7B1D_CDAF);
        assert_ne!(PointId::Num(1).route_hash(), PointId::Num(2).route_hash());
    }
}
