use thiserror::Error;

/// What went wrong in the store, classified so the service layer can answer precisely
/// (409 for a conflict) without ever showing SQL text to a client.
#[derive(Debug, Error)]
pub enum StoreError {
    /// A unique constraint rejected the write.
    #[error("unique constraint violated")]
    UniqueViolation,
    /// A foreign key rejected the write or the delete (the row is still referenced).
    #[error("foreign key constraint violated")]
    ForeignKeyViolation,
    /// The database URL or configuration is unusable.
    #[error("{0}")]
    Config(String),
    /// Migrations could not be applied.
    #[error("migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    /// Anything else the driver reported (connection lost, I/O, ...).
    #[error("database error: {0}")]
    Database(sqlx::Error),
}

pub type StoreResult<T> = Result<T, StoreError>;

impl From<sqlx::Error> for StoreError {
    fn from(err: sqlx::Error) -> Self {
        if let sqlx::Error::Database(db) = &err {
            if db.is_unique_violation() {
                return StoreError::UniqueViolation;
            }
            if db.is_foreign_key_violation() {
                return StoreError::ForeignKeyViolation;
            }
        }
        StoreError::Database(err)
    }
}
