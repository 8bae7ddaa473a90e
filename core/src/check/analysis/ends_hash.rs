//! A fast hasher for the analysis' sets and maps of DER and key bytes.

/// Hashes byte strings (a certificate's DER, a public key) by their length,
/// first 32 and last 16 bytes instead of every byte: a DER's head holds its
/// serial number and its tail its signature, a key's head its modulus or
/// point, a name's tail its common name, so these differ between any two.
/// Set and map membership still
/// compares whole slices; the analysis of a 10,000-certificate bundle spent a
/// tenth of its time in SipHash over whole certificates and keys.
#[derive(Clone, Copy, Default)]
pub(super) struct EndsHash;

impl std::hash::BuildHasher for EndsHash {
    type Hasher = EndsHasher;
    fn build_hasher(&self) -> EndsHasher {
        EndsHasher(0xcbf2_9ce4_8422_2325)
    }
}

/// FNV-1a over what [`EndsHash`] keeps of each write.
pub(super) struct EndsHasher(u64);

impl std::hash::Hasher for EndsHasher {
    fn write(&mut self, bytes: &[u8]) {
        let head = &bytes[..bytes.len().min(32)];
        let tail = &bytes[bytes.len().saturating_sub(16)..];
        let len = (bytes.len() as u64).to_le_bytes();
        for &b in head.iter().chain(tail).chain(&len) {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::BuildHasher;

    #[test]
    fn equal_bytes_hash_equal_and_the_ends_and_length_count() {
        let h = |b: &[u8]| EndsHash.hash_one(b);
        let long: Vec<u8> = (0..200u8).collect();
        assert_eq!(h(&long), h(&long.clone()));
        let mut tail = long.clone();
        tail[199] ^= 1;
        assert_ne!(h(&long), h(&tail));
        assert_ne!(h(&long), h(&long[..199]));
        // The middle is not hashed (set membership still compares whole slices).
        let mut middle = long.clone();
        middle[100] ^= 1;
        assert_eq!(h(&long), h(&middle));
    }
}
