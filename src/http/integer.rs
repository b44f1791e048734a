//! Integers as JSON Schema reads them: `3.0` is an integer there (a number with no fraction),
//! while serde's integers refuse it. Fields the API documents as `integer` take both.

use serde::{Deserialize, Deserializer, de::Error};

/// An integer written as `3` or `3.0`.
fn whole(n: &serde_json::Number) -> Option<i64> {
    n.as_i64().or_else(|| {
        let f = n.as_f64()?;
        // i64's range as f64: 2^63 is exact, so `<` keeps `as` from saturating.
        (f.fract() == 0.0 && f >= -(2f64.powi(63)) && f < 2f64.powi(63)).then_some(f as i64)
    })
}

fn convert<T: TryFrom<i64>, E: Error>(n: &serde_json::Number) -> Result<T, E> {
    whole(n)
        .and_then(|i| T::try_from(i).ok())
        .ok_or_else(|| E::custom(format!("{n} is not an integer in range")))
}

pub fn one<'de, D: Deserializer<'de>, T: TryFrom<i64>>(d: D) -> Result<T, D::Error> {
    convert(&serde_json::Number::deserialize(d)?)
}

pub fn some<'de, D: Deserializer<'de>, T: TryFrom<i64>>(d: D) -> Result<Option<T>, D::Error> {
    Option::<serde_json::Number>::deserialize(d)?
        .map(|n| convert(&n))
        .transpose()
}

pub fn some_list<'de, D: Deserializer<'de>, T: TryFrom<i64>>(
    d: D,
) -> Result<Option<Vec<T>>, D::Error> {
    Option::<Vec<serde_json::Number>>::deserialize(d)?
        .map(|list| list.iter().map(convert).collect())
        .transpose()
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    #[derive(Deserialize, Debug)]
    struct Body {
        #[serde(deserialize_with = "super::one")]
        n: u32,
        #[serde(default, deserialize_with = "super::some_list")]
        list: Option<Vec<i64>>,
    }

    fn parse(json: &str) -> Result<Body, serde_json::Error> {
        serde_json::from_str(json)
    }

    #[test]
    fn a_whole_number_is_an_integer_however_written() {
        let b = parse(r#"{"n": 239.0, "list": [1, 2.0, -3]}"#).unwrap();
        assert_eq!((b.n, b.list), (239, Some(vec![1, 2, -3])));
        assert!(parse(r#"{"n": 1}"#).unwrap().list.is_none());
        for bad in [
            r#"{"n": 2.5}"#,
            r#"{"n": -1}"#,
            r#"{"n": 1e30}"#,
            r#"{"n": "3"}"#,
            r#"{"n": 1, "list": [1.5]}"#,
            r#"{"n": 1, "list": [9223372036854775808.0]}"#,
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
