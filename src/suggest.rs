//! "Did you mean …?" for unknown keys, values and command verbs, and for a path that
//! names nothing while one beside it is a letter or two off (`near_entry`).

use std::path::{Path, PathBuf};

/// At most this many entries of a folder are read for a path's near-miss.
const MAX_ENTRIES: usize = 10_000;

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

/// The entry of `path`'s folder whose name is nearest to `path`'s own (other than
/// `path` itself), when one is near enough to be the one meant (`services.yaml` for `services.yml`,
/// `opened.json` for `open.json`: review 13i, F1 and F8), written as `path` is (its folder
/// joined to the name). `kind` picks the entries that may be meant (files, or folders).
pub fn near_entry(path: &Path, kind: fn(&Path) -> bool) -> Option<PathBuf> {
    let name = path.file_name()?.to_str()?;
    let folder = path.parent().filter(|p| !p.as_os_str().is_empty());
    let names: Vec<String> = std::fs::read_dir(folder.unwrap_or(Path::new(".")))
        .ok()?
        .take(MAX_ENTRIES)
        .flatten()
        .filter(|e| kind(&e.path()))
        .filter_map(|e| e.file_name().to_str().map(String::from))
        .filter(|n| n != name)
        .collect();
    let near = did_you_mean(name, names.iter().map(String::as_str))?;
    Some(path.with_file_name(near))
}

#[cfg(test)]
mod tests {
    use super::{did_you_mean, near_entry};
    use std::path::Path;

    #[test]
    fn suggests_close_words_only() {
        let keys = ["agents", "project", "cluster", "images"];
        assert_eq!(did_you_mean("agnets", keys), Some("agents"));
        assert_eq!(did_you_mean("projet", keys), Some("project"));
        assert_eq!(did_you_mean("Cluster", keys), Some("cluster"));
        assert_eq!(did_you_mean("zzz", keys), None);
        assert_eq!(did_you_mean("", keys), None);
    }

    #[test]
    fn a_path_that_names_nothing_gets_the_entry_beside_it_a_letter_or_two_off() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("services.yaml"), "").unwrap();
        std::fs::write(dir.path().join("opened.json"), "").unwrap();
        std::fs::create_dir(dir.path().join("templates")).unwrap();
        let near = |name: &str, kind: fn(&Path) -> bool| {
            near_entry(&dir.path().join(name), kind)
                .map(|p| p.strip_prefix(dir.path()).unwrap().to_path_buf())
        };
        assert_eq!(
            near("services.yml", Path::is_file),
            Some("services.yaml".into())
        );
        assert_eq!(near("open.json", Path::is_file), Some("opened.json".into()));
        assert_eq!(near("template", Path::is_dir), Some("templates".into()));
        // A folder is not the file meant, nor a file the folder meant.
        assert_eq!(near("templates.yaml", Path::is_file), None);
        assert_eq!(near("services", Path::is_dir), None);
        // A path that names something, or nothing near anything.
        assert_eq!(near("services.yaml", Path::is_file), None);
        assert_eq!(near("zzz.json", Path::is_file), None);
        assert_eq!(near("nowhere/services.yml", Path::is_file), None);
    }
}
