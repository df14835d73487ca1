use chrono::{DateTime, SecondsFormat, SubsecRound, Utc};
use serde::{Deserialize, Serialize};
use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::postgres::{PgArgumentBuffer, PgTypeInfo, PgValueRef};
use sqlx::sqlite::{SqliteArgumentsBuffer, SqliteTypeInfo, SqliteValueRef};
use sqlx::{Decode, Encode, Postgres, Sqlite, Type};

/// A UTC instant with microsecond precision, the precision PostgreSQL keeps.
///
/// SQLite stores it as fixed-width ISO-8601 text so that text comparison orders correctly
/// (chrono's default encoding drops a zero fraction, which breaks ordering), and every value
/// reads back exactly as written, which the audit hash chain relies on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct UtcTime(DateTime<Utc>);

impl UtcTime {
    /// The current instant, truncated to microseconds.
    pub fn now() -> Self {
        Self::from(Utc::now())
    }

    /// The wrapped chrono value.
    pub fn get(self) -> DateTime<Utc> {
        self.0
    }

    /// Canonical text: `2025-08-26T17:03:12.123456Z`.
    pub fn to_rfc3339(self) -> String {
        self.0.to_rfc3339_opts(SecondsFormat::Micros, true)
    }

    /// This instant moved by `secs` seconds (negative moves back), saturating at the ends
    /// of the representable range instead of panicking.
    pub fn plus_secs(self, secs: i64) -> Self {
        let moved = chrono::TimeDelta::try_seconds(secs).and_then(|d| self.0.checked_add_signed(d));
        match moved {
            Some(t) => Self::from(t),
            None if secs < 0 => Self::from(DateTime::<Utc>::MIN_UTC),
            None => Self::from(DateTime::<Utc>::MAX_UTC),
        }
    }
}

impl From<DateTime<Utc>> for UtcTime {
    fn from(value: DateTime<Utc>) -> Self {
        Self(value.trunc_subsecs(6))
    }
}

impl From<UtcTime> for String {
    fn from(value: UtcTime) -> Self {
        value.to_rfc3339()
    }
}

impl TryFrom<String> for UtcTime {
    type Error = chrono::ParseError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Ok(Self::from(
            DateTime::parse_from_rfc3339(&value)?.with_timezone(&Utc),
        ))
    }
}

impl std::fmt::Display for UtcTime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

impl Type<Sqlite> for UtcTime {
    fn type_info() -> SqliteTypeInfo {
        <String as Type<Sqlite>>::type_info()
    }
    fn compatible(ty: &SqliteTypeInfo) -> bool {
        <DateTime<Utc> as Type<Sqlite>>::compatible(ty)
    }
}

impl Encode<'_, Sqlite> for UtcTime {
    fn encode_by_ref(&self, buf: &mut SqliteArgumentsBuffer) -> Result<IsNull, BoxDynError> {
        Encode::<Sqlite>::encode(self.to_rfc3339(), buf)
    }
}

impl<'r> Decode<'r, Sqlite> for UtcTime {
    fn decode(value: SqliteValueRef<'r>) -> Result<Self, BoxDynError> {
        Ok(Self::from(<DateTime<Utc> as Decode<Sqlite>>::decode(
            value,
        )?))
    }
}

impl Type<Postgres> for UtcTime {
    fn type_info() -> PgTypeInfo {
        <DateTime<Utc> as Type<Postgres>>::type_info()
    }
}

impl Encode<'_, Postgres> for UtcTime {
    fn encode_by_ref(&self, buf: &mut PgArgumentBuffer) -> Result<IsNull, BoxDynError> {
        Encode::<Postgres>::encode_by_ref(&self.0, buf)
    }
}

impl<'r> Decode<'r, Postgres> for UtcTime {
    fn decode(value: PgValueRef<'r>) -> Result<Self, BoxDynError> {
        Ok(Self::from(<DateTime<Utc> as Decode<Postgres>>::decode(
            value,
        )?))
    }
}

impl utoipa::PartialSchema for UtcTime {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
                utoipa::openapi::KnownFormat::DateTime,
            )))
            .into()
    }
}

impl utoipa::ToSchema for UtcTime {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_form_is_fixed_width_so_it_sorts() {
        let whole = UtcTime::try_from("2026-01-01T00:00:00Z".to_string()).expect("parse");
        let later = whole.plus_secs(0);
        assert_eq!(whole.to_rfc3339(), "2026-01-01T00:00:00.000000Z");
        assert_eq!(later, whole);
        let frac = UtcTime::try_from("2026-01-01T00:00:00.5Z".to_string()).expect("parse");
        assert!(whole.to_rfc3339() < frac.to_rfc3339());
    }

    #[test]
    fn moving_far_saturates_instead_of_panicking() {
        let now = UtcTime::now();
        assert!(now.plus_secs(i64::MAX) > now);
        assert!(now.plus_secs(i64::MIN) < now);
        assert_eq!(
            now.plus_secs(60).get() - now.get(),
            chrono::TimeDelta::seconds(60)
        );
    }

    #[test]
    fn nanoseconds_are_truncated_to_micros() {
        let t = UtcTime::try_from("2026-01-01T00:00:00.123456789Z".to_string()).expect("parse");
        assert_eq!(t.to_rfc3339(), "2026-01-01T00:00:00.123456Z");
    }
}
