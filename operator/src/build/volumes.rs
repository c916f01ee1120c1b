//! Growing the node volumes when `storage.size` grows: which claims to patch, or why not (a
//! volume never shrinks, so a smaller size stalls the cluster with the claims named).

/// Bytes in a Kubernetes quantity of the forms `storage.size` accepts (`10Gi`, `500M`, `1.5Ti`,
/// a plain number) and the thousandths (`m`) the API server may store; `None` for anything
/// else (exponent forms such as `1e9`), which is then left alone.
pub fn quantity_bytes(q: &str) -> Option<f64> {
    let q = q.trim();
    let split = q
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(q.len());
    let (number, unit) = q.split_at(split);
    let n: f64 = number.parse().ok()?;
    let scale = match unit {
        "" => 1.0,
        // The API server may canonicalise a fractional size to thousandths.
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        "Ki" => 1024f64,
        "Mi" => 1024f64.powi(2),
        "Gi" => 1024f64.powi(3),
        "Ti" => 1024f64.powi(4),
        "Pi" => 1024f64.powi(5),
        "Ei" => 1024f64.powi(6),
        _ => return None,
    };
    Some(n * scale)
}

/// The claims (name, requested size) to grow to `want`, or the reason none can change: a claim
/// already larger than `want` (volumes do not shrink). Claims whose size cannot be read are
/// left alone.
pub fn claims_to_grow(want: &str, claims: &[(String, String)]) -> Result<Vec<String>, String> {
    let Some(target) = quantity_bytes(want) else {
        return Ok(Vec::new());
    };
    let sized: Vec<(&String, &String, f64)> = claims
        .iter()
        .filter_map(|(name, size)| Some((name, size, quantity_bytes(size)?)))
        .collect();
    let larger: Vec<String> = sized
        .iter()
        .filter(|(_, _, b)| *b > target)
        .map(|(n, s, _)| format!("{n} ({s})"))
        .collect();
    if !larger.is_empty() {
        return Err(format!(
            "storage.size {want} is smaller than the volumes {}: a volume cannot shrink",
            larger.join(", ")
        ));
    }
    Ok(sized
        .into_iter()
        .filter(|(_, _, b)| *b < target)
        .map(|(n, _, _)| n.clone())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_in_bytes() {
        assert_eq!(quantity_bytes("10Gi"), Some(10.0 * 1024f64.powi(3)));
        assert_eq!(quantity_bytes("500M"), Some(5e8));
        assert_eq!(quantity_bytes("1.5Ti"), Some(1.5 * 1024f64.powi(4)));
        assert_eq!(quantity_bytes("4096"), Some(4096.0));
        assert_eq!(quantity_bytes("1500m"), Some(1.5));
        assert_eq!(quantity_bytes("10GB"), None);
        assert_eq!(quantity_bytes("Gi"), None);
    }

    #[test]
    fn claims_grow_and_never_shrink() {
        let claims = vec![
            ("vec-data-0".to_string(), "1Gi".to_string()),
            ("vec-data-1".to_string(), "1024Mi".to_string()),
            ("vec-data-2".to_string(), "2Gi".to_string()),
        ];
        assert_eq!(
            claims_to_grow("2Gi", &claims),
            Ok(vec!["vec-data-0".to_string(), "vec-data-1".to_string()])
        );
        assert_eq!(claims_to_grow("2048Mi", &claims[2..]), Ok(vec![]));
        let err = claims_to_grow("1Gi", &claims).unwrap_err();
        assert!(
            err.contains("vec-data-2 (2Gi)") && err.contains("cannot shrink"),
            "{err}"
        );
    }
}
