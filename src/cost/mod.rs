//! Estimated cost of model calls from a price table: the one shipped in the repo
//! (`src/cost/prices.toml`, compiled in) or the file `[cost] prices` names. Prices are per
//! million tokens by model id prefix; a model no entry matches is unpriced (counted in tokens,
//! never guessed).

use crate::transcript::Usage;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What is wrong in a price table's text.
#[derive(Debug, Clone, thiserror::Error)]
pub enum BadTable {
    /// Not TOML, an unknown key or a wrong type.
    #[error("{}", .error.message())]
    Syntax { error: toml::de::Error },
    #[error("model {model}: a price is negative or not a number")]
    BadPrice { model: String },
}

/// Why the price table file at `path` cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{}: {error}", .path.display())]
    Read { path: PathBuf, error: std::io::Error },
    #[error("{}: {error}", .path.display())]
    Invalid { path: PathBuf, error: BadTable },
}

const SHIPPED: &str = include_str!("prices.toml");

#[derive(Debug, Clone, Copy, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub(crate) struct Price {
    pub input: f64,
    pub output: f64,
    pub cache_read: f64,
    pub cache_write: f64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PriceTable {
    pub version: String,
    pub models: BTreeMap<String, Price>,
}

impl PriceTable {
    pub(crate) fn shipped() -> PriceTable {
        PriceTable::parse(SHIPPED).expect("the shipped price table parses (tested)")
    }

    pub(crate) fn parse(text: &str) -> Result<PriceTable, BadTable> {
        let t: PriceTable = toml::from_str(text).map_err(|error| BadTable::Syntax { error })?;
        if let Some((m, _)) = t
            .models
            .iter()
            .find(|(_, p)| [p.input, p.output, p.cache_read, p.cache_write].iter().any(|v| !v.is_finite() || *v < 0.0))
        {
            return Err(BadTable::BadPrice { model: m.clone() });
        }
        Ok(t)
    }

    /// The configured table (`path`), else the shipped one.
    pub(crate) fn load(path: Option<&Path>) -> Result<PriceTable, LoadError> {
        match path {
            None => Ok(PriceTable::shipped()),
            Some(p) => {
                let text =
                    std::fs::read_to_string(p).map_err(|error| LoadError::Read { path: p.to_path_buf(), error })?;
                PriceTable::parse(&text).map_err(|error| LoadError::Invalid { path: p.to_path_buf(), error })
            }
        }
    }

    /// The price of `model`: the entry with the longest prefix of it.
    pub(crate) fn price(&self, model: &str) -> Option<&Price> {
        self.models.iter().filter(|(k, _)| model.starts_with(k.as_str())).max_by_key(|(k, _)| k.len()).map(|(_, p)| p)
    }

    /// USD for `usage` on `model`, or `None` when the model is not in the table.
    pub(crate) fn cost(&self, model: &str, u: &Usage) -> Option<f64> {
        let p = self.price(model)?;
        Some(
            (u.input_tokens as f64 * p.input
                + u.output_tokens as f64 * p.output
                + u.cache_read_input_tokens as f64 * p.cache_read
                + u.cache_creation_input_tokens as f64 * p.cache_write)
                / 1e6,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_table_prices_by_longest_prefix_and_never_guesses() {
        let t = PriceTable::shipped();
        assert!(!t.version.is_empty());
        assert_eq!(t.price("claude-sonnet-4-5-20250929").unwrap().input, 3.0);
        assert_eq!(t.price("claude-opus-4-1-20250805").unwrap().output, 75.0);
        assert_eq!(t.price("claude-opus-4-5").unwrap().output, 25.0);
        assert!(t.price("gpt-4o").is_none());
        assert!(t.price("claude-unknown-9").is_none());
        let u = Usage {
            input_tokens: 1_000_000,
            output_tokens: 1_000_000,
            cache_read_input_tokens: 1_000_000,
            cache_creation_input_tokens: 1_000_000,
        };
        assert!((t.cost("claude-haiku-4-5", &u).unwrap() - (1.0 + 5.0 + 0.1 + 1.25)).abs() < 1e-9);
        assert!(t.cost("mystery", &u).is_none());
    }

    #[test]
    fn a_bad_table_is_an_error() {
        assert!(PriceTable::parse(
            "version = \"x\"\n[models.a]\ninput = -1.0\noutput = 1.0\ncache_read = 0.0\ncache_write = 0.0\n"
        )
        .is_err());
        assert!(PriceTable::parse("version = \"x\"\n[models.a]\ninput = 1.0\n").is_err());
        assert!(PriceTable::parse("version = \"x\"\nmodels = {}\nextra = 1\n").is_err());
    }
}
