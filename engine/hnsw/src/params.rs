//! Build parameters, as Qdrant names them.

/// How a graph is built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HnswParams {
    /// Links per node on upper levels; level 0 keeps up to `2 * m`.
    pub m: usize,
    /// Beam width while inserting: larger builds slower and finds better neighbours.
    pub ef_construct: usize,
    /// Build threads; 0 means every core.
    pub threads: usize,
    /// Seeds the level of each node, so a rebuild of the same data draws the same levels.
    pub seed: u64,
}

impl Default for HnswParams {
    fn default() -> Self {
        HnswParams {
            m: 16,
            ef_construct: 100,
            threads: 0,
            seed: 0x5157_4956_4552,
        }
    }
}

impl HnswParams {
    /// Level-0 capacity.
    pub fn m0(&self) -> usize {
        self.m.max(1) * 2
    }

    /// The level of `node`: geometric with ratio 1/m, drawn from a hash of (seed, node).
    pub fn level_of(&self, node: u32) -> usize {
        let mut x = self.seed ^ (u64::from(node).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        x ^= x >> 30;
        x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
        x ^= x >> 27;
        x = x.wrapping_mul(0x94D0_49BB_1331_11EB);
        x ^= x >> 31;
        // (0, 1]: never 0, so ln is finite.
        let u = ((x >> 11) as f64 + 1.0) / (1u64 << 53) as f64;
        let ml = 1.0 / (self.m.max(2) as f64).ln();
        ((-u.ln() * ml) as usize).min(16)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_are_geometric() {
        let p = HnswParams::default();
        let n = 200_000u32;
        let above0 = (0..n).filter(|&i| p.level_of(i) > 0).count() as f64 / n as f64;
        // P(level > 0) = 1/m.
        assert!((above0 - 1.0 / 16.0).abs() < 0.005, "{above0}");
        assert_eq!(p.level_of(7), p.level_of(7));
    }
}
