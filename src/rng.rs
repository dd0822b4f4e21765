//! Saving and restoring the position of a random stream, so a saved model resumes training
//! with the same shuffles and dropout masks it would have drawn.

use rand_chacha::ChaCha8Rng;

use crate::error::{CoreError, Result};

/// Where a ChaCha8 stream stands: its seed, stream number and word position.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RngState {
    pub seed: [u8; 32],
    pub stream: u64,
    pub word_pos: u128,
}

impl RngState {
    pub fn of(rng: &ChaCha8Rng) -> Self {
        RngState {
            seed: rng.get_seed(),
            stream: rng.get_stream(),
            word_pos: rng.get_word_pos(),
        }
    }

    pub fn restore(&self) -> ChaCha8Rng {
        use rand::SeedableRng;
        let mut rng = ChaCha8Rng::from_seed(self.seed);
        rng.set_stream(self.stream);
        rng.set_word_pos(self.word_pos);
        rng
    }

    /// 112 hexadecimal digits: seed (64), stream (16), word position (32).
    pub fn to_hex(&self) -> String {
        let mut s: String = self.seed.iter().map(|b| format!("{b:02x}")).collect();
        s.push_str(&format!("{:016x}{:032x}", self.stream, self.word_pos));
        s
    }

    pub fn from_hex(hex: &str) -> Result<Self> {
        let bad = || {
            CoreError::Value(format!(
                "random state: expected 112 hexadecimal digits, got {:?}",
                hex.chars().take(120).collect::<String>()
            ))
        };
        // from_str_radix alone would accept a sign ('+') inside a field
        if hex.len() != 112 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad());
        }
        let mut seed = [0u8; 32];
        for (i, byte) in seed.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).map_err(|_| bad())?;
        }
        let stream = u64::from_str_radix(&hex[64..80], 16).map_err(|_| bad())?;
        let word_pos = u128::from_str_radix(&hex[80..112], 16).map_err(|_| bad())?;
        Ok(RngState {
            seed,
            stream,
            word_pos,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_distr::{Distribution, Uniform};

    #[test]
    fn round_trip_continues_the_stream() {
        let mut rng = ChaCha8Rng::seed_from_u64(42);
        rng.set_stream(3);
        let u = Uniform::new(0.0, 1.0).unwrap();
        for _ in 0..7 {
            u.sample(&mut rng);
        }
        let saved = RngState::from_hex(&RngState::of(&rng).to_hex()).unwrap();
        let mut copy = saved.restore();
        for _ in 0..5 {
            assert_eq!(u.sample(&mut rng), u.sample(&mut copy));
        }
        assert!(RngState::from_hex("zz").is_err());
    }
}
