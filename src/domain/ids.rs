//! Entity ids: one type per entity, so that a batch id cannot be passed where a record
//! id is wanted. Each wraps the id's text as it is stored and sent (UUIDs today, kept
//! as text: the schema holds them as `TEXT` on both backends), serialises as that text
//! and is shown as it.
//!
//! An id read from storage, a message or a path is trusted text: it names a row or
//! names nothing, and a look-up says which. Only a card number from a client is parsed
//! (see [`super::Pan`]); once stored it is a [`CardNo`].

use std::borrow::Borrow;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::Pan;

macro_rules! text_id {
    ($($(#[$doc:meta])* $name:ident),+ $(,)?) => {$(
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<String> for $name {
            fn from(id: String) -> Self {
                $name(id)
            }
        }

        impl From<&str> for $name {
            fn from(id: &str) -> Self {
                $name(id.to_string())
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> Self {
                id.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        // Hash and Eq are those of the text, so maps keyed by ids can be read by `&str`.
        impl Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }
    )+};
}

text_id!(
    /// A submitted record (collection), the same across its versions and services.
    RecordId,
    /// A batch of records a county office opened.
    BatchId,
    /// One upload of one part of a batch: a part's records belong to its current one.
    UploadId,
    /// A card order (cardmaking), one per registration of a record version.
    OrderId,
    /// A card maker's lease on a set of orders.
    LeaseId,
    /// A household register snapshot or delta import (verification).
    ImportId,
    /// An API client registered at the gateway (the token's subject).
    ClientId,
    /// A stored card number: the [`Pan`] a card maker reported, trusted once stored.
    CardNo,
    /// A person in settlement (`psn_no`): what clinics see instead of a citizen ID.
    PersonNo,
    /// A premium debit run for one county and year.
    DebitRunId,
    /// An envelope of instructions to a bank, with its count and total.
    EnvelopeId,
    /// One debit instruction: one person's premium for one year.
    InstructionId,
    /// A settlement (`setl_id`), or the negated record that cancels one.
    SetlId,
    /// One payment instruction: one claim's reimbursement onto a card.
    PaymentId,
    /// A clinic's reconciliation of a period (totals or detail).
    ReconciliationId,
);

/// Ids made by this service: time-ordered UUIDs (v7), so rows go into an index in the
/// order they are made and keyset pages follow creation.
macro_rules! made_here {
    ($($name:ident),+ $(,)?) => {$(
        impl $name {
            /// A new, unique id.
            #[allow(clippy::new_without_default)]
            pub fn new() -> Self {
                $name(uuid::Uuid::now_v7().to_string())
            }
        }
    )+};
}

made_here!(
    RecordId,
    BatchId,
    UploadId,
    OrderId,
    LeaseId,
    ImportId,
    PersonNo,
    DebitRunId,
    EnvelopeId,
    InstructionId,
    SetlId,
    PaymentId,
    ReconciliationId
);

impl ClientId {
    /// A new client id: random (v4), as client ids have been, so that one reveals
    /// nothing about when the client was registered.
    pub fn random() -> Self {
        ClientId(uuid::Uuid::new_v4().to_string())
    }
}

impl From<Pan> for CardNo {
    fn from(pan: Pan) -> Self {
        CardNo(pan.as_str().to_string())
    }
}

impl From<&Pan> for CardNo {
    fn from(pan: &Pan) -> Self {
        CardNo(pan.as_str().to_string())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::domain::serialized;

    #[test]
    fn ids_serialise_and_show_as_their_text() {
        let record = RecordId::from("0190a0b0-0000-7000-8000-000000000001");
        assert_eq!(serialized(&record), "0190a0b0-0000-7000-8000-000000000001");
        assert_eq!(record.to_string(), record.as_str());
        let json = serde_json::to_string(&BatchId::from("b-1")).unwrap();
        assert_eq!(json, r#""b-1""#);
        assert_eq!(serde_json::from_str::<BatchId>(&json).unwrap(), BatchId::from("b-1"));
        let card = CardNo::from(Pan::parse("4111 1111 1111 1111").unwrap());
        assert_eq!(serde_json::to_string(&card).unwrap(), r#""4111111111111111""#);
    }

    #[test]
    fn every_id_round_trips_through_json() {
        fn round_trip<T: Serialize + serde::de::DeserializeOwned + PartialEq + fmt::Debug + From<&'static str>>() {
            let id = T::from("some-id");
            let json = serde_json::to_string(&id).unwrap();
            assert_eq!(json, r#""some-id""#);
            assert_eq!(serde_json::from_str::<T>(&json).unwrap(), id);
        }
        round_trip::<RecordId>();
        round_trip::<BatchId>();
        round_trip::<UploadId>();
        round_trip::<OrderId>();
        round_trip::<LeaseId>();
        round_trip::<ImportId>();
        round_trip::<ClientId>();
        round_trip::<CardNo>();
        round_trip::<PersonNo>();
        round_trip::<DebitRunId>();
        round_trip::<EnvelopeId>();
        round_trip::<InstructionId>();
        round_trip::<SetlId>();
        round_trip::<PaymentId>();
        round_trip::<ReconciliationId>();
    }

    #[test]
    fn new_ids_are_uuids_in_creation_order() {
        let (a, b) = (RecordId::new(), RecordId::new());
        assert!(a < b, "{a} {b}");
        assert_eq!(uuid::Uuid::parse_str(a.as_str()).unwrap().get_version_num(), 7);
        assert_eq!(uuid::Uuid::parse_str(ClientId::random().as_str()).unwrap().get_version_num(), 4);
    }

    #[test]
    fn maps_keyed_by_ids_are_read_by_text() {
        let mut map = std::collections::HashMap::new();
        map.insert(OrderId::from("o-1"), 1);
        assert_eq!(map.get("o-1"), Some(&1));
    }
}
