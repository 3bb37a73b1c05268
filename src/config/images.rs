//! An image reference's rules, wherever it is written (services.yaml's `images`, a
//! template's container): what the kubelet refuses, and a tag that moves. Pure.

use super::formats;

/// What `validate` says of an image reference, wherever it is written: in services.yaml's
/// `images`, or in a container of a template (an init container, a sidecar, a Job's), so
/// that an image no entry names is held to the same rules (new-user review, N8).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageCheck {
    /// Well formed, and pinned to a version or a digest.
    Fine,
    /// What the kubelet refuses (InvalidImageName), and what to write.
    Refused(String),
    /// A warning (it starts `warning: `): no tag, or the tag `latest`, which moves.
    Unpinned(String),
}

/// Checks `image` as the kubelet reads it, then whether it is pinned.
pub fn check_image(image: &str) -> ImageCheck {
    if let Err(why) = formats::Format::Image.check(image) {
        return ImageCheck::Refused(why);
    }
    if let Some(lower) = lower_case_image(image) {
        return ImageCheck::Refused(lower_case_refusal(image, &lower));
    }
    match unpinned_image(image) {
        Some(warning) => ImageCheck::Unpinned(warning),
        None => ImageCheck::Fine,
    }
}

pub(super) fn lower_case_refusal(image: &str, lower: &str) -> String {
    format!(
        "image `{image}`: a repository path is lower case, and the kubelet refuses this one \
         (InvalidImageName); write `{lower}`"
    )
}

/// The warning for an image that pulls whatever its tag is then: none (`latest`), or
/// `latest` written out, which moves all the same (new-user review 13c, N5; 13b, N16).
pub(super) fn unpinned_image(image: &str) -> Option<String> {
    let last = image.rsplit('/').next().unwrap_or_default();
    if !last.contains([':', '@']) {
        return Some(format!(
            "warning: image `{image}` has no tag, so every pod pulls whatever `latest` is \
             then; pin a version (`{image}:1.2.3`) or a digest"
        ));
    }
    let named = image.strip_suffix(":latest")?;
    (!named.ends_with('/') && !last.contains('@')).then(|| {
        format!(
            "warning: image `{image}` names the tag `latest`, which moves, so every pod pulls \
             whatever `latest` is then; pin a version (`{named}:1.2.3`) or a digest"
        )
    })
}

/// An image reference with its repository path in lower case, when it is not (the
/// registry host and the tag may hold upper case; the path may not).
pub(super) fn lower_case_image(image: &str) -> Option<String> {
    let (name, digest) = match image.split_once('@') {
        Some((n, d)) => (n, Some(d)),
        None => (image, None),
    };
    // A tag follows the last `:` after the last `/` (a `:` before it is a registry's port).
    let (path, tag) = match name.rsplit_once(':') {
        Some((p, t)) if !t.contains('/') => (p, Some(t)),
        _ => (name, None),
    };
    let (host, repository) = match path.split_once('/') {
        Some((h, r)) if h.contains(['.', ':']) || h == "localhost" => (Some(h), r),
        _ => (None, path),
    };
    if !repository.chars().any(|c| c.is_ascii_uppercase()) {
        return None;
    }
    let mut out = host.map(|h| format!("{h}/")).unwrap_or_default();
    out.push_str(&repository.to_ascii_lowercase());
    if let Some(tag) = tag {
        out.push(':');
        out.push_str(tag);
    }
    if let Some(digest) = digest {
        out.push('@');
        out.push_str(digest);
    }
    Some(out)
}
