//! Vectors of one name, stored contiguously by offset. Dense vectors live in one `Vec<f32>` of
//! `capacity * dim` floats (cache-friendly scans); a presence flag per offset tells whether the point
//! has this vector at all (named vectors are optional per point).

use quiver_types::{Distance, PointOffset, SparseVector};

use crate::kernels;

/// Dense vectors of one name.
#[derive(Debug, Clone)]
pub struct DenseStorage {
    pub dim: usize,
    pub distance: Distance,
    data: Vec<f32>,
    present: Vec<bool>,
    /// How many `present` flags are set.
    count: usize,
}

impl DenseStorage {
    pub fn new(dim: usize, distance: Distance) -> Self {
        DenseStorage {
            dim,
            distance,
            data: Vec::new(),
            present: Vec::new(),
            count: 0,
        }
    }

    /// Offsets that hold a vector.
    pub fn present_count(&self) -> usize {
        self.count
    }

    fn ensure(&mut self, offset: PointOffset) {
        let need = offset.0 as usize + 1;
        if self.present.len() < need {
            self.present.resize(need, false);
            self.data.resize(need * self.dim, 0.0);
        }
    }

    /// Stores a vector (already validated for size; normalised here for Cosine).
    pub fn set(&mut self, offset: PointOffset, vector: &[f32]) {
        self.ensure(offset);
        let start = offset.0 as usize * self.dim;
        let slot = &mut self.data[start..start + self.dim];
        slot.copy_from_slice(vector);
        if self.distance == Distance::Cosine {
            kernels::normalize(slot);
        }
        if !self.present[offset.0 as usize] {
            self.present[offset.0 as usize] = true;
            self.count += 1;
        }
    }

    pub fn clear(&mut self, offset: PointOffset) {
        if let Some(p) = self.present.get_mut(offset.0 as usize) {
            if *p {
                *p = false;
                self.count -= 1;
            }
        }
    }

    pub fn get(&self, offset: PointOffset) -> Option<&[f32]> {
        let i = offset.0 as usize;
        if *self.present.get(i)? {
            Some(&self.data[i * self.dim..(i + 1) * self.dim])
        } else {
            None
        }
    }

    pub fn has(&self, offset: PointOffset) -> bool {
        self.present.get(offset.0 as usize).copied().unwrap_or(false)
    }

    /// The slot of `offset` whether or not a vector is present (zeros when absent, empty past the
    /// end): the graph only asks for offsets it was built over, and must not branch per score.
    #[inline]
    pub fn raw(&self, offset: u32) -> &[f32] {
        let start = offset as usize * self.dim;
        self.data.get(start..start + self.dim).unwrap_or(&[])
    }

    /// Offsets allocated in this storage.
    pub fn capacity(&self) -> usize {
        self.present.len()
    }

    /// The query as stored vectors are (normalised for Cosine).
    pub fn prepare_query(&self, query: &[f32]) -> Vec<f32> {
        let mut q = query.to_vec();
        if self.distance == Distance::Cosine {
            kernels::normalize(&mut q);
        }
        q
    }

    /// Score as Qdrant reports it (similarity for Cosine/Dot, distance for Euclid/Manhattan).
    #[inline]
    pub fn score(&self, prepared_query: &[f32], stored: &[f32]) -> f32 {
        match self.distance {
            Distance::Cosine | Distance::Dot => kernels::dot(prepared_query, stored),
            Distance::Euclid => kernels::l2sq(prepared_query, stored).sqrt(),
            Distance::Manhattan => kernels::l1(prepared_query, stored),
        }
    }
}

/// Sparse vectors of one name.
#[derive(Debug, Clone, Default)]
pub struct SparseStorage {
    vectors: Vec<Option<SparseVector>>,
}

impl SparseStorage {
    pub fn set(&mut self, offset: PointOffset, vector: SparseVector) {
        let i = offset.0 as usize;
        if self.vectors.len() <= i {
            self.vectors.resize(i + 1, None);
        }
        self.vectors[i] = Some(vector);
    }

    pub fn clear(&mut self, offset: PointOffset) {
        if let Some(v) = self.vectors.get_mut(offset.0 as usize) {
            *v = None;
        }
    }

    pub fn get(&self, offset: PointOffset) -> Option<&SparseVector> {
        self.vectors.get(offset.0 as usize).and_then(|v| v.as_ref())
    }

    pub fn has(&self, offset: PointOffset) -> bool {
        self.get(offset).is_some()
    }
}

/// Storage for one named vector space.
#[derive(Debug, Clone)]
pub enum VectorStorage {
    Dense(DenseStorage),
    Sparse(SparseStorage),
}

impl VectorStorage {
    pub fn has(&self, offset: PointOffset) -> bool {
        match self {
            VectorStorage::Dense(d) => d.has(offset),
            VectorStorage::Sparse(s) => s.has(offset),
        }
    }

    pub fn clear(&mut self, offset: PointOffset) {
        match self {
            VectorStorage::Dense(d) => d.clear(offset),
            VectorStorage::Sparse(s) => s.clear(offset),
        }
    }
}
