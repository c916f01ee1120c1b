//! Distance functions a vector space can be compared with.

/// How two vectors of a collection are compared. Cosine is stored normalised and scored as a dot
/// product; Euclid and Manhattan are distances (smaller is closer).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Distance {
    Cosine,
    Euclid,
    Dot,
    Manhattan,
}

impl Distance {
    /// True when a larger score means a closer point.
    pub fn higher_is_better(self) -> bool {
        matches!(self, Distance::Cosine | Distance::Dot)
    }

    /// Qdrant's spelling, used in configs and error messages.
    pub fn name(self) -> &'static str {
        match self {
            Distance::Cosine => "Cosine",
            Distance::Euclid => "Euclid",
            Distance::Dot => "Dot",
            Distance::Manhattan => "Manhattan",
        }
    }

    pub fn from_name(s: &str) -> Option<Distance> {
        match s {
            "Cosine" => Some(Distance::Cosine),
            "Euclid" => Some(Distance::Euclid),
            "Dot" => Some(Distance::Dot),
            "Manhattan" => Some(Distance::Manhattan),
            _ => None,
        }
    }
}
