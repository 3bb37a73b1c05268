//! "Did you mean …?" for unknown keys, values and command verbs.

/// The candidate closest to `word`, when it is close enough to be a likely typo.
pub fn did_you_mean<'a, I>(word: &str, candidates: I) -> Option<&'a str>
where
    I: IntoIterator<Item = &'a str>,
{
    let word_lower = word.to_lowercase();
    candidates
        .into_iter()
        .map(|c| {
            (
                c,
                strsim::damerau_levenshtein(&word_lower, &c.to_lowercase()),
            )
        })
        .filter(|(c, distance)| {
            let longest = word.chars().count().max(c.chars().count());
            *distance <= (longest / 3).max(1)
        })
        .min_by_key(|(_, distance)| *distance)
        .map(|(c, _)| c)
}

#[cfg(test)]
mod tests {
    use super::did_you_mean;

    #[test]
    fn suggests_close_words_only() {
        let keys = ["agents", "project", "cluster", "images"];
        assert_eq!(did_you_mean("agnets", keys), Some("agents"));
        assert_eq!(did_you_mean("projet", keys), Some("project"));
        assert_eq!(did_you_mean("Cluster", keys), Some("cluster"));
        assert_eq!(did_you_mean("zzz", keys), None);
        assert_eq!(did_you_mean("", keys), None);
    }
}
