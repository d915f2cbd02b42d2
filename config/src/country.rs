//! The country codes a `country` may name: the ISO 3166-1 alpha-2 codes
//! assigned to countries and territories, as the iso-codes project lists them
//! (`/usr/share/iso-codes/json/iso_3166-1.json`, iso-codes 4.15), and `AN`,
//! which ISO withdrew but the kernel's regulatory database
//! (wireless-regdb's `regulatory.db`) still carries. Every country in that
//! database is in this list; a code outside it (`ZZ`, `XX`, user-assigned
//! or unassigned ones) would leave the radio in the world domain while the
//! configuration claims a country.

/// The accepted codes, sorted.
pub const COUNTRIES: &[&str] = &[
    "AD", "AE", "AF", "AG", "AI", "AL", "AM", "AN", "AO", "AQ", "AR", "AS", "AT", "AU", "AW", "AX",
    "AZ", "BA", "BB", "BD", "BE", "BF", "BG", "BH", "BI", "BJ", "BL", "BM", "BN", "BO", "BQ", "BR",
    "BS", "BT", "BV", "BW", "BY", "BZ", "CA", "CC", "CD", "CF", "CG", "CH", "CI", "CK", "CL", "CM",
    "CN", "CO", "CR", "CU", "CV", "CW", "CX", "CY", "CZ", "DE", "DJ", "DK", "DM", "DO", "DZ", "EC",
    "EE", "EG", "EH", "ER", "ES", "ET", "FI", "FJ", "FK", "FM", "FO", "FR", "GA", "GB", "GD", "GE",
    "GF", "GG", "GH", "GI", "GL", "GM", "GN", "GP", "GQ", "GR", "GS", "GT", "GU", "GW", "GY", "HK",
    "HM", "HN", "HR", "HT", "HU", "ID", "IE", "IL", "IM", "IN", "IO", "IQ", "IR", "IS", "IT", "JE",
    "JM", "JO", "JP", "KE", "KG", "KH", "KI", "KM", "KN", "KP", "KR", "KW", "KY", "KZ", "LA", "LB",
    "LC", "LI", "LK", "LR", "LS", "LT", "LU", "LV", "LY", "MA", "MC", "MD", "ME", "MF", "MG", "MH",
    "MK", "ML", "MM", "MN", "MO", "MP", "MQ", "MR", "MS", "MT", "MU", "MV", "MW", "MX", "MY", "MZ",
    "NA", "NC", "NE", "NF", "NG", "NI", "NL", "NO", "NP", "NR", "NU", "NZ", "OM", "PA", "PE", "PF",
    "PG", "PH", "PK", "PL", "PM", "PN", "PR", "PS", "PT", "PW", "PY", "QA", "RE", "RO", "RS", "RU",
    "RW", "SA", "SB", "SC", "SD", "SE", "SG", "SH", "SI", "SJ", "SK", "SL", "SM", "SN", "SO", "SR",
    "SS", "ST", "SV", "SX", "SY", "SZ", "TC", "TD", "TF", "TG", "TH", "TJ", "TK", "TL", "TM", "TN",
    "TO", "TR", "TT", "TV", "TW", "TZ", "UA", "UG", "UM", "US", "UY", "UZ", "VA", "VC", "VE", "VG",
    "VI", "VN", "VU", "WF", "WS", "YE", "YT", "ZA", "ZM", "ZW",
];

/// Whether `code` (upper case) is an accepted country code.
pub fn is_country(code: &str) -> bool {
    COUNTRIES.binary_search(&code).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_is_sorted_and_complete() {
        assert!(COUNTRIES.windows(2).all(|w| w[0] < w[1]));
        // 249 assigned codes and AN.
        assert_eq!(COUNTRIES.len(), 250);
        for c in ["DE", "US", "JP", "GB", "AN", "AQ"] {
            assert!(is_country(c), "{c}");
        }
        for c in ["ZZ", "XX", "AA", "QM", "UK", "EU", "00", "de"] {
            assert!(!is_country(c), "{c}");
        }
    }

    /// The country list of wireless-regdb's `regulatory.db` (its format:
    /// the magic `RGDB`, a version, then 4-byte entries of two letters and a
    /// pointer, ended by a zero entry).
    fn regdb_countries(db: &[u8]) -> Vec<String> {
        assert_eq!(&db[..4], b"RGDB", "not a regulatory database");
        db[8..]
            .chunks_exact(4)
            .take_while(|e| e[..2] != [0, 0])
            .map(|e| String::from_utf8_lossy(&e[..2]).into_owned())
            .collect()
    }

    #[test]
    fn every_country_of_the_regulatory_database_is_accepted() {
        let path = std::path::Path::new("/lib/firmware/regulatory.db");
        let Ok(db) = std::fs::read(path) else {
            eprintln!(
                "{} is absent (Debian package wireless-regdb): not compared",
                path.display()
            );
            return;
        };
        let countries = regdb_countries(&db);
        assert!(countries.len() > 100, "{countries:?}");
        for c in countries.iter().filter(|c| *c != "00") {
            assert!(is_country(c), "{c} is in {}", path.display());
        }
    }
}
