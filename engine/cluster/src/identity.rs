//! The node id, persisted beside the data (`<raft>/node_id`, decimal text). A node that lost its
//! data directory has lost this file too and starts under a new random id, so it can never pose
//! as a member whose log it no longer has; the leader refuses a join that tries (see
//! [`crate::node::ClusterNode::join`]).

use std::path::Path;

use crate::error::{ClusterError, Result};
use crate::fsio;
use crate::types::NodeId;

/// The node id stored in `dir`, or a new one (`configured`, else random) persisted there.
/// A configured id that differs from the stored one is refused: the data belongs to another node.
pub fn load_or_create(dir: &Path, configured: Option<NodeId>) -> Result<NodeId> {
    std::fs::create_dir_all(dir).map_err(ClusterError::io(dir))?;
    let path = dir.join("node_id");
    if let Some(bytes) = fsio::read_optional(&path).map_err(ClusterError::io(&path))? {
        let text = String::from_utf8_lossy(&bytes);
        let stored: NodeId = text.trim().parse().map_err(|_| ClusterError::Corrupt {
            path: path.display().to_string(),
            reason: format!("`{}` is not a node id", text.trim()),
        })?;
        if let Some(c) = configured.filter(|&c| c != stored) {
            return Err(ClusterError::Refused(format!(
                "cluster.node_id is {c} but the data at {} belongs to node {stored}",
                dir.display()
            )));
        }
        return Ok(stored);
    }
    let id = match configured {
        Some(0) => {
            return Err(ClusterError::Invalid(
                "cluster.node_id: 0 is not a valid node id".into(),
            ))
        }
        Some(c) => c,
        // Qdrant's peer ids are random u64 too; zero is kept out (it reads as "none").
        None => rand::random::<u64>().max(1),
    };
    fsio::write_atomic(&path, id.to_string().as_bytes()).map_err(ClusterError::io(&path))?;
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_is_kept_and_a_conflicting_one_refused() {
        let dir = tempfile::tempdir().unwrap();
        let a = load_or_create(dir.path(), None).unwrap();
        assert_ne!(a, 0);
        assert_eq!(load_or_create(dir.path(), None).unwrap(), a);
        assert_eq!(load_or_create(dir.path(), Some(a)).unwrap(), a);
        assert!(matches!(
            load_or_create(dir.path(), Some(a ^ 1)),
            Err(ClusterError::Refused(_))
        ));
        let other = tempfile::tempdir().unwrap();
        assert_eq!(load_or_create(other.path(), Some(7)).unwrap(), 7);
        assert!(matches!(
            load_or_create(tempfile::tempdir().unwrap().path(), Some(0)),
            Err(ClusterError::Invalid(_))
        ));
    }
}
