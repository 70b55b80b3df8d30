//! Soft findings: the record is accepted, and the county is told.

use serde::{Deserialize, Serialize};

/// A warning attached to an accepted field (reported per row and field, like
/// errors, but the record goes on to verification).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Warning {
    /// A 15-digit ID number was upgraded to its 18-character form.
    #[serde(rename = "id_upgraded_from_15")]
    IdUpgradedFrom15,
    /// The name is longer than the card's 30-byte GB 18030 name field.
    #[serde(rename = "name_truncated_on_card")]
    NameTruncatedOnCard,
}

impl Warning {
    /// Every warning, for documentation and tests.
    pub const ALL: [Warning; 2] = [Warning::IdUpgradedFrom15, Warning::NameTruncatedOnCard];

    /// The stable machine-readable code shown to clients.
    pub fn code(&self) -> &'static str {
        match self {
            Warning::IdUpgradedFrom15 => "id_upgraded_from_15",
            Warning::NameTruncatedOnCard => "name_truncated_on_card",
        }
    }
}

impl std::fmt::Display for Warning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Warning::IdUpgradedFrom15 => "the 15-digit ID number was upgraded to 18 characters",
            Warning::NameTruncatedOnCard => {
                "the name is longer than the card's name field (15 Chinese characters) and will be cut on the card"
            }
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use serde::de::IntoDeserializer;
    use serde::de::value::{Error as DeError, StrDeserializer};

    #[test]
    fn serde_name_is_the_code() {
        for w in Warning::ALL {
            let de: StrDeserializer<'_, DeError> = w.code().into_deserializer();
            assert_eq!(Warning::deserialize(de).unwrap(), w);
        }
        assert_eq!(Warning::IdUpgradedFrom15.code(), "id_upgraded_from_15");
        assert_eq!(Warning::NameTruncatedOnCard.code(), "name_truncated_on_card");
    }
}
