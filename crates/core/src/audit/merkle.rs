//! A Merkle tree over event hashes in the RFC 6962 / RFC 9162 shape, so that a
//! single request's events can later be proven part of a signed log without
//! handing over the whole log. Leaf `i` (0-based) is event `i + 1`.

use sha2::{Digest, Sha256};

use super::hash::EventHash;

/// `SHA-256(0x00 || event_hash)`. The 0x00 / 0x01 prefixes stop a leaf from
/// being passed off as an inner node (second-preimage attacks).
pub fn merkle_leaf(h: &EventHash) -> [u8; 32] {
    let mut d = Sha256::new();
    d.update([0x00]);
    d.update(h.0);
    d.finalize().into()
}

/// `SHA-256(0x01 || left || right)`.
pub fn merkle_node(left: &[u8; 32], right: &[u8; 32]) -> [u8; 32] {
    let mut d = Sha256::new();
    d.update([0x01]);
    d.update(left);
    d.update(right);
    d.finalize().into()
}

/// Root of the tree over `hashes` (events 1..=n in order). The empty tree's
/// root is SHA-256 of the empty string, as in RFC 6962.
pub fn merkle_root(hashes: &[EventHash]) -> [u8; 32] {
    root_of_leaves(hashes.iter().map(merkle_leaf).collect())
}

/// Pairs nodes level by level, carrying an odd last node up unchanged. This
/// builds exactly RFC 6962's tree, which splits at the largest power of two
/// below n: the left part is always a full subtree.
fn root_of_leaves(mut level: Vec<[u8; 32]>) -> [u8; 32] {
    if level.is_empty() {
        return Sha256::digest([]).into();
    }
    while level.len() > 1 {
        let mut write = 0;
        for read in (0..level.len()).step_by(2) {
            level[write] = match level.get(read + 1) {
                Some(right) => merkle_node(&level[read], right),
                None => level[read],
            };
            write += 1;
        }
        level.truncate(write);
    }
    level[0]
}

/// Largest power of two strictly below `n`; `n` must be at least 2.
fn split_point(n: usize) -> usize {
    1 << (usize::BITS - 1 - (n - 1).leading_zeros())
}

/// Audit path (RFC 6962 `PATH`) proving leaf `index` (0-based, event
/// `index + 1`) is in the tree over `hashes`; siblings from the leaf upward.
/// `None` if `index` is out of range.
pub fn inclusion_proof(hashes: &[EventHash], index: usize) -> Option<Vec<[u8; 32]>> {
    if index >= hashes.len() {
        return None;
    }
    let leaves: Vec<[u8; 32]> = hashes.iter().map(merkle_leaf).collect();
    let mut proof = Vec::new();
    path(&leaves, index, &mut proof);
    Some(proof)
}

fn path(leaves: &[[u8; 32]], m: usize, out: &mut Vec<[u8; 32]>) {
    let n = leaves.len();
    if n <= 1 {
        return;
    }
    let k = split_point(n);
    if m < k {
        path(&leaves[..k], m, out);
        out.push(root_of_leaves(leaves[k..].to_vec()));
    } else {
        path(&leaves[k..], m - k, out);
        out.push(root_of_leaves(leaves[..k].to_vec()));
    }
}

/// Checks an audit path (RFC 9162 section 2.1.3.2): that the event with hash
/// `event` is leaf `index` of a tree of `size` leaves whose root is `root`.
pub fn verify_inclusion(event: &EventHash, index: u64, size: u64, proof: &[[u8; 32]], root: &[u8; 32]) -> bool {
    if index >= size {
        return false;
    }
    let (mut fnode, mut snode) = (index, size - 1);
    let mut r = merkle_leaf(event);
    for p in proof {
        if snode == 0 {
            return false;
        }
        if fnode & 1 == 1 || fnode == snode {
            r = merkle_node(p, &r);
            while fnode & 1 == 0 && fnode != 0 {
                fnode >>= 1;
                snode >>= 1;
            }
        } else {
            r = merkle_node(&r, p);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    snode == 0 && r == *root
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// RFC 6962's recursive definition, written out literally as the reference.
    fn reference_root(leaves: &[[u8; 32]]) -> [u8; 32] {
        match leaves.len() {
            0 => Sha256::digest([]).into(),
            1 => leaves[0],
            n => {
                let k = split_point(n);
                merkle_node(&reference_root(&leaves[..k]), &reference_root(&leaves[k..]))
            }
        }
    }

    fn hashes(n: usize) -> Vec<EventHash> {
        (0..n).map(|i| EventHash(Sha256::digest(i.to_be_bytes()).into())).collect()
    }

    #[test]
    fn small_trees_have_the_rfc_6962_shape() {
        let h = hashes(3);
        let l: Vec<_> = h.iter().map(merkle_leaf).collect();
        assert_eq!(hex::encode(merkle_root(&[])), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        assert_eq!(merkle_root(&h[..1]), l[0]);
        assert_eq!(merkle_root(&h), merkle_node(&merkle_node(&l[0], &l[1]), &l[2]));
        assert_eq!([2, 3, 4, 5, 8, 9].map(split_point), [1, 2, 2, 4, 4, 8]);
        // Golden value, also in docs/audit-format.md.
        let golden: Vec<EventHash> = (1u8..=3).map(|i| EventHash([i; 32])).collect();
        assert_eq!(hex::encode(merkle_root(&golden)), "df896896c799531f1fd1e556cea26a6989ab06853bcbfdd3e4f5097a611f658f");
    }

    #[test]
    fn leaf_and_node_are_domain_separated() {
        let h = EventHash([5; 32]);
        let mut expected = Sha256::new();
        expected.update([0u8]);
        expected.update([5u8; 32]);
        assert_eq!(merkle_leaf(&h), <[u8; 32]>::from(expected.finalize()));
        assert_ne!(merkle_node(&[5; 32], &[5; 32]), merkle_leaf(&h));
    }

    proptest! {
        #[test]
        fn root_matches_the_recursive_definition(n in 0usize..70) {
            let h = hashes(n);
            let leaves: Vec<_> = h.iter().map(merkle_leaf).collect();
            prop_assert_eq!(merkle_root(&h), reference_root(&leaves));
        }

        #[test]
        fn every_leaf_has_a_verifying_proof(n in 1usize..40, pick in any::<prop::sample::Index>()) {
            let h = hashes(n);
            let root = merkle_root(&h);
            let i = pick.index(n);
            let proof = inclusion_proof(&h, i).unwrap();
            let size = n as u64;
            prop_assert!(verify_inclusion(&h[i], i as u64, size, &proof, &root));
            prop_assert!(!verify_inclusion(&EventHash([0xaa; 32]), i as u64, size, &proof, &root));
            if n > 1 {
                let other = (i + 1) % n;
                prop_assert!(!verify_inclusion(&h[i], other as u64, size, &proof, &root));
            }
            prop_assert!(inclusion_proof(&h, n).is_none());
        }
    }
}
