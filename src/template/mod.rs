//! The template language: minijinja's syntax with agentpods' settings, and what a YAML
//! template may do with values ([`quoting`]). A leaf both sides use: `config` checks the
//! templates when it loads them, `render` compiles and renders them (adding the filters
//! and the YAML escaping, `crate::render::escape`).

pub(crate) mod blocks;
pub(crate) mod quoting;

use minijinja::Environment;
use minijinja::syntax::SyntaxConfig;

/// The template syntax: minijinja's, with blocks trimmed and the trailing newline kept.
pub fn syntax_config() -> SyntaxConfig {
    SyntaxConfig::builder()
        .trim_blocks(true)
        .lstrip_blocks(true)
        .keep_trailing_newline(true)
        .build()
        .unwrap_or_default()
}

/// An environment with the template syntax and no templates, for syntax checks. Compiling
/// a template reads only the syntax; filters, the formatter and escaping matter when a
/// template renders, and `render` sets them.
pub fn syntax_environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_syntax(syntax_config());
    env
}
