//! Errors of the storage layer, and what a unique constraint refusing a row means to a
//! client.

use diesel::result::DatabaseErrorInformation;

/// What can go wrong when a use case asks for the database.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// No connection within the pool timeout (HTTP 503).
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// A query failed.
    #[error(transparent)]
    Query(#[from] diesel::result::Error),
    /// Migrations could not be applied.
    #[error("migrations: {0}")]
    Migration(String),
    /// The blocking task was cancelled or panicked.
    #[error("database task failed: {0}")]
    Task(String),
}

/// A unique constraint a request can run into: its name on PostgreSQL, the columns
/// SQLite names in its message instead, and what the client is told.
struct UniqueConstraint {
    postgres: &'static str,
    sqlite: &'static str,
    code: &'static str,
    detail: &'static str,
}

const UNIQUE_CONSTRAINTS: &[UniqueConstraint] = &[
    UniqueConstraint {
        postgres: "claims_key",
        sqlite: "claims.clinic, claims.ipt_otp_no",
        code: "claim_in_progress",
        detail: "this claim arrived twice at once; send it again for the first answer",
    },
    UniqueConstraint {
        postgres: "claims_by_msgid",
        sqlite: "claims.msgid",
        code: "claim_in_progress",
        detail: "this msgid arrived twice at once; send it again for the first answer",
    },
    UniqueConstraint {
        postgres: "claim_msgids_pkey",
        sqlite: "claim_msgids.clinic, claim_msgids.msgid",
        code: "claim_in_progress",
        detail: "this msgid arrived twice at once; send it again for the first answer",
    },
    UniqueConstraint {
        postgres: "claims_cancels",
        sqlite: "claims.cancels",
        code: "claim_already_cancelled",
        detail: "the claim was cancelled by another request meanwhile",
    },
    UniqueConstraint {
        postgres: "debit_instructions_once",
        sqlite: "debit_instructions.person_no, debit_instructions.year",
        code: "already_being_debited",
        detail: "a person in this run is already asked for this year's premium; run again",
    },
    UniqueConstraint {
        postgres: "enrollments_pkey",
        sqlite: "enrollments.person_no, enrollments.year",
        code: "enrollment_changed",
        detail: "a person was enrolled by another request meanwhile; send the rows again",
    },
    UniqueConstraint {
        postgres: "persons_id_hash_key",
        sqlite: "persons.id_hash",
        code: "person_changed",
        detail: "the person was recorded by another message meanwhile",
    },
    UniqueConstraint {
        postgres: "residents_pkey",
        sqlite: "residents.id_hash",
        code: "duplicate_citizen_id",
        detail: "this citizen is already registered",
    },
    UniqueConstraint {
        postgres: "card_orders_open",
        sqlite: "card_orders.id_hash",
        code: "order_already_open",
        detail: "this resident already has an open card order",
    },
    UniqueConstraint {
        postgres: "cards_pkey",
        sqlite: "cards.card_no",
        code: "card_number_taken",
        detail: "this card number is already used by another card",
    },
    UniqueConstraint {
        postgres: "cards_live",
        sqlite: "cards.id_hash",
        code: "already_holds_card",
        detail: "this resident already holds a live card",
    },
    UniqueConstraint {
        postgres: "cards_order_id_key",
        sqlite: "cards.order_id",
        code: "order_already_answered",
        detail: "a card was already made for this order",
    },
    UniqueConstraint {
        postgres: "record_versions_pkey",
        sqlite: "record_versions.record_id, record_versions.version",
        code: "record_changed",
        detail: "the record changed meanwhile; read it again",
    },
    UniqueConstraint {
        postgres: "parts_pkey",
        sqlite: "parts.batch_id, parts.part_no",
        code: "part_changed",
        detail: "the part was received meanwhile; send it again",
    },
    UniqueConstraint {
        postgres: "policy_versions_pkey",
        sqlite: "policy_versions.county_code, policy_versions.year, policy_versions.version",
        code: "policy_version_taken",
        detail: "other versions of this policy were published meanwhile; read the latest and send again",
    },
];

/// The stable code and a client-facing detail for a unique violation; never the
/// constraint's name or the database's own text. A constraint not listed is a plain
/// `already_exists`.
pub fn unique_violation(info: &dyn DatabaseErrorInformation) -> (&'static str, &'static str) {
    let known = UNIQUE_CONSTRAINTS.iter().find(|c| match info.constraint_name() {
        Some(name) => name == c.postgres,
        // SQLite: "UNIQUE constraint failed: table.column[, table.column]".
        None => info.message().strip_prefix("UNIQUE constraint failed: ") == Some(c.sqlite),
    });
    match known {
        Some(c) => (c.code, c.detail),
        None => ("already_exists", "conflicts with an existing record"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Info(&'static str, Option<&'static str>);

    impl DatabaseErrorInformation for Info {
        fn message(&self) -> &str {
            self.0
        }
        fn details(&self) -> Option<&str> {
            None
        }
        fn hint(&self) -> Option<&str> {
            None
        }
        fn table_name(&self) -> Option<&str> {
            None
        }
        fn column_name(&self) -> Option<&str> {
            None
        }
        fn constraint_name(&self) -> Option<&str> {
            self.1
        }
        fn statement_position(&self) -> Option<i32> {
            None
        }
    }

    #[test]
    fn each_backend_names_the_constraint_its_own_way() {
        let pg = Info("duplicate key value violates unique constraint \"cards_live\"", Some("cards_live"));
        assert_eq!(unique_violation(&pg).0, "already_holds_card");
        let lite = Info("UNIQUE constraint failed: cards.id_hash", None);
        assert_eq!(unique_violation(&lite).0, "already_holds_card");
        let lite = Info("UNIQUE constraint failed: record_versions.record_id, record_versions.version", None);
        assert_eq!(unique_violation(&lite).0, "record_changed");
        let pg = Info("duplicate key value violates unique constraint", Some("policy_versions_pkey"));
        assert_eq!(unique_violation(&pg).0, "policy_version_taken");
    }

    #[test]
    fn an_unlisted_constraint_says_nothing_of_the_schema() {
        let (code, detail) = unique_violation(&Info("UNIQUE constraint failed: secret_table.col", None));
        assert_eq!(code, "already_exists");
        assert!(!detail.contains("secret_table"));
        let (code, _) = unique_violation(&Info("duplicate key", Some("some_other_key")));
        assert_eq!(code, "already_exists");
    }
}
